"""Tool-call output handling shared by the engines (no model needed; vLLM's parser-backed
``auto`` is tested with vLLM's real parser in tests/vllm)."""

import json

import pytest

from serving.engine import ToolUse
from serving.errors import UnsupportedFeature
from serving.tool_output import (
    MAX_PARALLEL_CALLS,
    NamedCall,
    PlainText,
    RequiredCalls,
    output_schema,
    tool_output,
)
from serving.vllm_tools import auto_parser

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = (
    {"type": "function", "function": {"name": "get_weather", "parameters": CITY}},
    {"type": "function", "function": {"name": "get_time"}},
)


def test_no_constraint_for_auto_and_none() -> None:
    assert output_schema(None) is None
    assert output_schema(ToolUse(TOOLS, "auto")) is None
    assert output_schema(ToolUse(TOOLS, "none")) is None


def test_named_choice_is_constrained_to_its_parameters_and_no_others() -> None:
    assert output_schema(ToolUse(TOOLS, "get_weather")) == {**CITY, "additionalProperties": False}
    open_ended = {**CITY, "additionalProperties": True}  # said explicitly: kept
    tools = ({"type": "function", "function": {"name": "f", "parameters": open_ended}},)
    assert output_schema(ToolUse(tools, "f")) == open_ended


def test_required_is_an_array_of_calls() -> None:
    schema = output_schema(ToolUse(TOOLS, "required"))
    assert schema is not None and schema["minItems"] == 1
    names = [item["properties"]["name"]["const"] for item in schema["items"]["anyOf"]]
    assert names == ["get_weather", "get_time"]
    no_parameters = schema["items"]["anyOf"][1]["properties"]["parameters"]
    assert no_parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    assert schema["maxItems"] == MAX_PARALLEL_CALLS


def test_required_without_parallel_calls_is_one_call() -> None:
    schema = output_schema(ToolUse(TOOLS, "required", parallel=False))
    assert schema is not None and (schema["minItems"], schema["maxItems"]) == (1, 1)


def test_named_call_streams_arguments() -> None:
    output = NamedCall("get_weather")
    _, (first,) = output.feed('{"city": ')
    _, (second,) = output.feed('"Oslo"}')
    assert first.name == "get_weather" and first.id and first.id.startswith("call_")
    assert (second.id, second.name) == (None, None)
    assert json.loads(first.arguments + second.arguments) == {"city": "Oslo"}
    assert output.called


def test_required_calls_are_emitted_at_the_end() -> None:
    output = RequiredCalls()
    assert output.feed('[{"name": "get_time", "parameters": {}},') == ("", ())
    output.feed(' {"name": "get_weather", "parameters": {"city": "Rome"}}]')
    _, calls = output.finish()
    assert [(c.index, c.name) for c in calls] == [(0, "get_time"), (1, "get_weather")]
    assert json.loads(calls[1].arguments) == {"city": "Rome"}


def test_required_calls_cut_off_fail_clearly() -> None:
    output = RequiredCalls()
    output.feed('[{"name": "get_ti')
    with pytest.raises(UnsupportedFeature, match="max_tokens") as info:
        output.finish()
    assert info.value.param == "max_tokens"


def test_plain_text_for_no_tools_or_none() -> None:
    assert isinstance(tool_output(None), PlainText)
    output = tool_output(ToolUse(TOOLS, "none"))
    assert output.feed("hello") == ("hello", ()) and not output.called


def test_auto_without_a_configured_parser_is_refused() -> None:
    with pytest.raises(UnsupportedFeature) as info:
        auto_parser(None, tokenizer=None, tool_use=ToolUse(TOOLS, "auto"))
    assert info.value.param == "tool_choice"
    with pytest.raises(UnsupportedFeature) as info:
        tool_output(ToolUse(TOOLS, "auto"))
    assert info.value.param == "tool_choice"
