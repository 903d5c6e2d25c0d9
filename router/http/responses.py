"""Engine chunks -> OpenAI response bodies and SSE events.

Chat and text completions differ only in object names and choice shape, so one
``ApiShape`` per endpoint feeds one renderer for full responses and one for streams.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from router.errors import ApiError, error_payload
from serving.engine import ChoiceDelta, GenerationChunk, ToolCallDelta, Usage

SSE_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class ApiShape:
    id_prefix: str
    object_full: str
    object_chunk: str
    chat: bool

    def full_choice(self, index: int, choice: "ChoiceTotal") -> dict[str, Any]:
        finish = choice.finish_reason
        if not self.chat:
            return {"index": index, "text": choice.text, "logprobs": None, "finish_reason": finish}
        message: dict[str, Any] = {"role": "assistant", "content": choice.text}
        if choice.calls:
            message["content"] = choice.text or None  # OpenAI: null content beside tool calls
            message["tool_calls"] = [call.body() for call in choice.calls.values()]
        return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}

    def delta_choice(self, delta: ChoiceDelta, first: bool) -> dict[str, Any]:
        if not self.chat:
            return {
                "index": delta.index,
                "text": delta.text,
                "logprobs": None,
                "finish_reason": delta.finish_reason,
            }
        body: dict[str, Any] = {"role": "assistant"} if first else {}
        if delta.text or first:
            # OpenAI sends null content when the choice opens with a tool call.
            body["content"] = delta.text or (None if delta.tool_calls else "")
        if delta.tool_calls:
            body["tool_calls"] = [_tool_call_delta(call) for call in delta.tool_calls]
        return {
            "index": delta.index,
            "delta": body,
            "logprobs": None,
            "finish_reason": delta.finish_reason,
        }


CHAT = ApiShape("chatcmpl-", "chat.completion", "chat.completion.chunk", chat=True)
COMPLETION = ApiShape("cmpl-", "text_completion", "text_completion", chat=False)


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass
class CallTotal:
    id: str = ""
    name: str = ""
    arguments: str = ""

    def body(self) -> dict[str, Any]:
        function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}


@dataclass
class ChoiceTotal:
    """One choice's deltas added up, for a non-streamed response."""

    text: str = ""
    finish_reason: str | None = None
    calls: dict[int, CallTotal] = field(default_factory=dict)

    def add(self, delta: ChoiceDelta) -> None:
        self.text += delta.text
        self.finish_reason = delta.finish_reason or self.finish_reason
        for fragment in delta.tool_calls:
            call = self.calls.setdefault(fragment.index, CallTotal())
            call.id = fragment.id or call.id
            call.name = fragment.name or call.name
            call.arguments += fragment.arguments


def full_response(
    shape: ApiShape, model_id: str, request_id: str, chunks: Iterable[GenerationChunk]
) -> dict[str, Any]:
    totals: dict[int, ChoiceTotal] = {}
    usage = Usage(0, 0)
    for chunk in chunks:
        for delta in chunk.deltas:
            totals.setdefault(delta.index, ChoiceTotal()).add(delta)
        usage = chunk.usage or usage
    choices = [shape.full_choice(i, totals[i]) for i in sorted(totals)]
    return {
        "id": shape.id_prefix + request_id,
        "object": shape.object_full,
        "created": int(time.time()),
        "model": model_id,
        "choices": choices,
        "usage": usage_body(usage),
    }


def _tool_call_delta(call: ToolCallDelta) -> dict[str, Any]:
    """OpenAI's streamed tool-call fragment: id, type and name only on the first one."""
    function: dict[str, Any] = {"arguments": call.arguments}
    body: dict[str, Any] = {"index": call.index, "function": function}
    if call.id is not None:
        body |= {"id": call.id, "type": "function"}
    if call.name is not None:
        function["name"] = call.name
    return body


class StreamRenderer:
    """Turns one generation's chunks into SSE ``data:`` events (bytes)."""

    def __init__(self, shape: ApiShape, model_id: str, request_id: str, include_usage: bool):
        self._shape = shape
        self._include_usage = include_usage
        self._started: set[int] = set()
        # The fields every chunk repeats, serialised once per stream.
        head = {
            "id": shape.id_prefix + request_id,
            "object": shape.object_chunk,
            "created": int(time.time()),
            "model": model_id,
        }
        self._head = _dumps(head)[:-1]

    def encode(self, chunk: GenerationChunk) -> bytes:
        events = []
        if chunk.deltas:
            choices = [self._choice(delta) for delta in chunk.deltas]
            events.append(self._event(choices, None))
        if chunk.usage is not None and self._include_usage:
            events.append(self._event([], usage_body(chunk.usage)))
        return b"".join(events)

    def _choice(self, delta: ChoiceDelta) -> dict[str, Any]:
        first = delta.index not in self._started
        self._started.add(delta.index)
        return self._shape.delta_choice(delta, first)

    def _event(self, choices: list[dict[str, Any]], usage: dict[str, int] | None) -> bytes:
        tail: dict[str, Any] = {"choices": choices}
        if self._include_usage:  # OpenAI: with include_usage every chunk has a usage key
            tail["usage"] = usage
        return f"data: {self._head},{_dumps(tail)[1:]}\n\n".encode()


def sse_error(error: ApiError) -> bytes:
    return f"data: {_dumps(error_payload(error))}\n\n".encode()
