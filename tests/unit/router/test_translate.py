from typing import Any

import pytest

from router.errors import InvalidRequest
from router.openai_types import ChatCompletionRequest, CompletionRequest
from router.translate import chat_request, completion_request
from serving.engine import ChatPrompt, JsonOutput, SamplingOptions, TextPrompt


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


def test_text_parts_are_joined_and_unknown_fields_accepted() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    body = chat(messages=[{"role": "user", "content": parts}], frequency_penalty=0.1)
    assert chat_request(body, "r").prompt == ChatPrompt(
        messages=({"role": "user", "content": "ab"},)
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format",
        ),
        ({"logprobs": True}, "logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages",
        ),
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
