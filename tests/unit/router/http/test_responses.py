import json
from typing import Any

from router.errors import Overloaded
from router.http.responses import CHAT, COMPLETION, StreamRenderer, full_response, sse_error
from serving.engine import ChoiceDelta, GenerationChunk, ToolCallDelta, Usage

CHUNKS = [
    GenerationChunk(deltas=(ChoiceDelta(0, "Hel"), ChoiceDelta(1, "Bon"))),
    GenerationChunk(deltas=(ChoiceDelta(0, "lo", "stop"), ChoiceDelta(1, "jour", "length"))),
    GenerationChunk(usage=Usage(prompt_tokens=5, completion_tokens=4)),
]


def events(raw: bytes) -> list[dict[str, Any]]:
    lines = raw.decode().split("\n\n")
    assert all(line.startswith("data: ") for line in lines if line)
    return [json.loads(line.removeprefix("data: ")) for line in lines if line]


def test_full_chat_response() -> None:
    body = full_response(CHAT, "m", "abc", CHUNKS)
    assert body["id"] == "chatcmpl-abc" and body["object"] == "chat.completion"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello"},
            "logprobs": None,
            "finish_reason": "stop",
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": "Bonjour"},
            "logprobs": None,
            "finish_reason": "length",
        },
    ]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_full_text_completion() -> None:
    body = full_response(COMPLETION, "m", "abc", CHUNKS)
    assert body["object"] == "text_completion"
    assert [c["text"] for c in body["choices"]] == ["Hello", "Bonjour"]


def test_chat_stream_roles_then_content_and_usage_last() -> None:
    renderer = StreamRenderer(CHAT, "m", "abc", include_usage=True)
    out = [e for chunk in CHUNKS for e in events(renderer.encode(chunk))]
    assert [e["object"] for e in out] == ["chat.completion.chunk"] * 3
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert out[1]["choices"][0] == {
        "index": 0,
        "delta": {"content": "lo"},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert out[0]["usage"] is None and out[1]["usage"] is None
    assert out[2]["choices"] == []
    assert out[2]["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert len({e["id"] for e in out}) == 1


def test_stream_without_include_usage_has_no_usage_key_or_event() -> None:
    renderer = StreamRenderer(CHAT, "m", "abc", include_usage=False)
    out = [e for chunk in CHUNKS for e in events(renderer.encode(chunk))]
    assert len(out) == 2
    assert all("usage" not in e for e in out)


def test_completion_stream_chunks() -> None:
    renderer = StreamRenderer(COMPLETION, "m", "abc", include_usage=False)
    out = events(renderer.encode(CHUNKS[0]))
    assert out[0]["object"] == "text_completion"
    assert out[0]["choices"][1] == {
        "index": 1,
        "text": "Bon",
        "logprobs": None,
        "finish_reason": None,
    }


def test_error_event() -> None:
    [event] = events(sse_error(Overloaded("busy")))
    assert event == {
        "error": {
            "message": "busy",
            "type": "rate_limit_error",
            "param": None,
            "code": "overloaded",
        }
    }


TOOL_CHUNKS = [
    GenerationChunk(
        deltas=(
            ChoiceDelta(
                0,
                "",
                tool_calls=(ToolCallDelta(0, id="call_a", name="get_weather", arguments='{"ci'),),
            ),
        )
    ),
    GenerationChunk(
        deltas=(
            ChoiceDelta(
                0, "", "tool_calls", tool_calls=(ToolCallDelta(0, arguments='ty": "Paris"}'),)
            ),
        )
    ),
    GenerationChunk(usage=Usage(prompt_tokens=9, completion_tokens=7)),
]


def test_full_response_with_tool_calls() -> None:
    [choice] = full_response(CHAT, "m", "abc", TOOL_CHUNKS)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }


def test_streamed_tool_call_fragments() -> None:
    renderer = StreamRenderer(CHAT, "m", "abc", include_usage=False)
    out = [e for chunk in TOOL_CHUNKS for e in events(renderer.encode(chunk))]
    first, second = (e["choices"][0]["delta"]["tool_calls"] for e in out)
    assert first == [
        {
            "index": 0,
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"ci'},
        }
    ]
    assert second == [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]
    assert out[1]["choices"][0]["finish_reason"] == "tool_calls"
