"""``auto`` tool calls go through vLLM's real parser with the real Qwen tokenizer."""

import json

import pytest
from transformers import AutoTokenizer

from router.config_loader import load_config
from serving.engine import ToolUse
from serving.vllm_tools import auto_parser, tool_output
from serving.weights import default_models_dir, prepared_dir
from tests.builders import MODELS_YAML, REPO

pytestmark = pytest.mark.vllm
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def qwen_tokenizer() -> object:
    model = load_config(MODELS_YAML).local_model("qwen2.5-coder-0.5b")
    assert model is not None
    return AutoTokenizer.from_pretrained(prepared_dir(model, default_models_dir()))


def test_hermes_parser_finds_the_call(qwen_tokenizer: object) -> None:
    tool_use = ToolUse((WEATHER,), "auto")
    output = tool_output(tool_use, *auto_parser("hermes", qwen_tokenizer, tool_use))
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    for piece in (text[:20], text[20:]):
        assert output.feed(piece) == ("", ())
    content, (call,) = output.finish()
    assert output.called and content == ""
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}


def test_plain_answer_stays_text(qwen_tokenizer: object) -> None:
    tool_use = ToolUse((WEATHER,), "auto")
    output = tool_output(tool_use, *auto_parser("hermes", qwen_tokenizer, tool_use))
    output.feed("It is sunny.")
    assert output.finish() == ("It is sunny.", ()) and not output.called


def test_gpu_fleet_parsers_are_registered_in_vllm() -> None:
    from vllm.tool_parsers import ToolParserManager

    fleet = load_config(REPO / "models.gpu.yaml")
    for model in fleet.models:
        assert model.vllm.tool_parser is not None
        ToolParserManager.get_tool_parser(model.vllm.tool_parser)  # raises if unknown
