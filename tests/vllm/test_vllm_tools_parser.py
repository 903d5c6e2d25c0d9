"""``auto`` tool calls go through vLLM's real parser with the real Qwen tokenizer."""

import json
from typing import Any

import pytest
from transformers import AutoTokenizer

from harness.configs import MODELS_YAML, REPO
from router.config_loader import load_config
from serving.engine import ToolUse
from serving.tool_output import ToolOutput
from serving.vllm_tools import auto_output
from serving.weights import default_models_dir, prepared_dir

pytestmark = pytest.mark.vllm
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def qwen_tokenizer() -> Any:
    model = load_config(MODELS_YAML).local_model("qwen2.5-coder-0.5b")
    assert model is not None
    return AutoTokenizer.from_pretrained(prepared_dir(model, default_models_dir()))


def stream(output: ToolOutput, tokenizer: Any, text: str) -> list[tuple[str, tuple[Any, ...]]]:
    """Feed ``text`` token by token, as the engine does; every emission, the finish last."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    pieces = [tokenizer.decode(ids[: i + 1]) for i in range(len(ids))]
    emitted = []
    for i, token in enumerate(ids):
        delta = pieces[i][len(pieces[i - 1]) :] if i else pieces[0]
        emitted.append(output.feed(delta, [token]))
    return [*emitted, output.finish()]


def test_hermes_calls_stream_before_the_end(qwen_tokenizer: Any) -> None:
    tool_use = ToolUse((WEATHER,), "auto")
    output = auto_output("hermes", qwen_tokenizer, tool_use)
    text = (
        'Checking. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", '
        '"unit": "celsius"}}\n</tool_call>'
    )
    emitted = stream(output, qwen_tokenizer, text)
    fragments = [call for _, calls in emitted for call in calls]
    first_call = next(i for i, (_, calls) in enumerate(emitted) if calls)
    assert first_call < len(emitted) - 5  # the name went out while the model still wrote
    assert fragments[0].name == "get_weather" and fragments[0].id
    arguments = "".join(f.arguments for f in fragments)
    assert json.loads(arguments) == {"city": "Oslo", "unit": "celsius"}
    assert "".join(content for content, _ in emitted).strip() == "Checking."
    assert output.called


def test_plain_answer_streams_as_text(qwen_tokenizer: Any) -> None:
    tool_use = ToolUse((WEATHER,), "auto")
    output = auto_output("hermes", qwen_tokenizer, tool_use)
    emitted = stream(output, qwen_tokenizer, "It is sunny in Oslo today.")
    assert "".join(content for content, _ in emitted) == "It is sunny in Oslo today."
    assert sum(1 for content, _ in emitted if content) > 1 and not output.called


def test_a_bare_call_object_without_tags_is_a_call(qwen_tokenizer: Any) -> None:
    """What Qwen2.5-Coder-0.5B writes under `auto` more often than the tagged form."""
    output = auto_output("hermes", qwen_tokenizer, ToolUse((WEATHER,), "auto"))
    emitted = stream(
        output, qwen_tokenizer, '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
    )
    assert all(emission == ("", ()) for emission in emitted[:-1])  # held: it may be no call
    content, (call,) = emitted[-1]
    assert content == "" and call.name == "get_weather" and output.called
    assert json.loads(call.arguments) == {"city": "Oslo"}


def test_gpu_fleet_parsers_are_registered_in_vllm() -> None:
    from vllm.tool_parsers import ToolParserManager

    fleet = load_config(REPO / "models.gpu.yaml")
    for model in (m for m in fleet.models if m.task == "generate"):
        assert model.vllm.tool_parser is not None
        ToolParserManager.get_tool_parser(model.vllm.tool_parser)  # raises if unknown
