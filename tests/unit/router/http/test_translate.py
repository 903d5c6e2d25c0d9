from typing import Any

import pytest
from pydantic import ValidationError

from router.errors import InvalidRequest
from router.http.translate import chat_request, completion_request
from router.openai_types import ChatCompletionRequest, CompletionRequest
from serving.engine import ChatPrompt, JsonOutput, SamplingOptions, TextPrompt, ToolUse

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(**fields: Any) -> ChatCompletionRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return ChatCompletionRequest.model_validate(body)


def test_chat_defaults() -> None:
    request = chat_request(chat(), "r1")
    assert request.request_id == "r1"
    assert request.prompt == ChatPrompt(messages=({"role": "user", "content": "hi"},))
    assert request.sampling == SamplingOptions(max_tokens=None, temperature=1.0, top_p=1.0)


def test_chat_sampling_fields() -> None:
    body = chat(max_tokens=10, temperature=0, top_p=0.5, seed=7, n=3, stop=["\n", "END"])
    assert chat_request(body, "r").sampling == SamplingOptions(
        max_tokens=10, temperature=0.0, top_p=0.5, seed=7, n=3, stop=("\n", "END")
    )


def test_max_completion_tokens_supersedes_max_tokens() -> None:
    assert chat_request(chat(max_tokens=10, max_completion_tokens=3), "r").sampling.max_tokens == 3


def test_text_parts_are_joined_and_unknown_fields_carried_as_sent() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    body = chat(
        messages=[{"role": "user", "content": parts}],
        logit_bias={"7": -100},
        reasoning_effort=None,  # null: unset
        frequency_penalty=0.1,
        top_k=-1,  # off, as 0
    )
    request = chat_request(body, "r")
    assert request.prompt == ChatPrompt(messages=({"role": "user", "content": "ab"},))
    assert request.passthrough == {"logit_bias": {"7": -100}}
    assert request.sampling.adjustments() == {"frequency_penalty": 0.1}


def test_sampling_adjustments_out_of_range_fail_validation_naming_them() -> None:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": 3}
        )
    assert caught.value.errors()[0]["loc"] == ("presence_penalty",)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function"}]}, "tools"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": "f"}}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format",
        ),
        ({"logprobs": True}, "logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
    ],
)
def test_unsupported_chat_fields_are_named(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        chat_request(chat(**fields), "r")
    assert info.value.param == param


def test_completion_prompt() -> None:
    body = CompletionRequest.model_validate(
        {"model": "m", "prompt": ["once upon"], "max_tokens": 4}
    )
    request = completion_request(body, "r")
    assert request.prompt == TextPrompt("once upon")
    assert request.sampling.max_tokens == 4


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"echo": True}, "echo"),
        ({"logprobs": 2}, "logprobs"),
        ({"suffix": "x"}, "suffix"),
        ({"best_of": 3}, "best_of"),
    ],
)
def test_unsupported_completion_fields_are_named(fields: dict[str, Any], param: str) -> None:
    body = CompletionRequest.model_validate({"model": "m", "prompt": "p", **fields})
    with pytest.raises(InvalidRequest) as info:
        completion_request(body, "r")
    assert info.value.param == param


def test_response_format_becomes_a_json_constraint() -> None:
    assert chat_request(chat(response_format={"type": "text"}), "r").json_output is None
    assert chat_request(chat(response_format={"type": "json_object"}), "r").json_output == (
        JsonOutput()
    )
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = chat(
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    )
    assert chat_request(body, "r").json_output == JsonOutput(schema=schema)


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, "auto"),
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"),
    ],
)
def test_tools_become_tool_use(tool_choice: Any, expected: str) -> None:
    request = chat_request(chat(tools=[WEATHER], tool_choice=tool_choice), "r")
    assert request.tool_use == ToolUse(tools=(WEATHER,), choice=expected)


def test_parallel_tool_calls_false_reaches_the_engine() -> None:
    body = chat(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert chat_request(body, "r").tool_use == ToolUse((WEATHER,), "required", parallel=False)
    assert chat_request(chat(tools=[WEATHER]), "r").tool_use == ToolUse((WEATHER,), "auto")


def test_tool_turns_reach_the_template() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    prompt = chat_request(chat(messages=messages, tools=[WEATHER]), "r").prompt
    assert isinstance(prompt, ChatPrompt)
    decoded = {**call, "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    assert prompt.messages[1] == {"role": "assistant", "content": "", "tool_calls": [decoded]}
    assert prompt.messages[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_developer_role_reaches_templates_as_system() -> None:
    body = chat(
        messages=[{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "hi"}]
    )
    prompt = chat_request(body, "r").prompt
    assert isinstance(prompt, ChatPrompt) and prompt.messages[0]["role"] == "system"


def test_image_parts_reach_the_engine_as_parts() -> None:
    """Routing sends them only to a vision model (VisionFilter); text-only messages stay
    one string, the shape chat templates expect."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts = [{"type": "text", "text": "what is it?"}, image]
    request = chat_request(chat(messages=[{"role": "user", "content": parts}]), "r")
    assert isinstance(request.prompt, ChatPrompt)
    assert request.prompt.messages[0]["content"] == parts
    text_only = chat_request(chat(messages=[{"role": "user", "content": parts[:1]}]), "r")
    assert isinstance(text_only.prompt, ChatPrompt)
    assert text_only.prompt.messages[0]["content"] == "what is it?"
