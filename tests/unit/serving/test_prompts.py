"""The router's fast token count equals what the engines encode, token for token."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from router.config_loader import load_config
from serving.engine import ChatPrompt, TextPrompt
from serving.errors import InvalidPrompt
from serving.prompts import count_prompt_tokens, encode_prompt
from serving.weights import default_models_dir, prepared_dir

TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}}  # fmt: skip
CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Why?"}],
    [
        {"role": "user", "content": "def f(x):\n    return x ** 2\n\n# explain   this\t code"},
        {"role": "assistant", "content": "It squares x."},
        {"role": "user", "content": "Ünïcödé, emoji 🙂, 中文 and <|im_start|> as plain text"},
    ],
    [{"role": "user", "content": "word " * 3000}],
]


@pytest.fixture(scope="module", params=["smollm2-135m", "qwen2.5-coder-0.5b"])
def tokenizer(request: pytest.FixtureRequest, smol_model_dir: Path) -> object:
    model = load_config(Path("models.yaml")).local_model(request.param)
    assert model is not None
    return AutoTokenizer.from_pretrained(prepared_dir(model, default_models_dir()))


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_chat_counts_equal_the_encoded_prompt(
    tokenizer: object, messages: list[dict[str, str]]
) -> None:
    prompt = ChatPrompt(messages=tuple(messages))
    assert count_prompt_tokens(tokenizer, prompt) == len(encode_prompt(tokenizer, prompt))


def test_tools_and_raw_text_count_the_same(tokenizer: object) -> None:
    prompt = ChatPrompt(messages=({"role": "user", "content": "Look up 'serendipity'."},))
    assert count_prompt_tokens(tokenizer, prompt, [TOOL]) == len(
        encode_prompt(tokenizer, prompt, [TOOL])
    )
    text = TextPrompt("Once upon a time, in a galaxy far away")
    assert count_prompt_tokens(tokenizer, text) == len(encode_prompt(tokenizer, text))


def test_a_prompt_the_template_refuses_is_invalid(tokenizer: object) -> None:
    with pytest.raises(InvalidPrompt):
        count_prompt_tokens(tokenizer, ChatPrompt(messages=({"role": "user"},)))
