"""Engine chunks -> OpenAI response bodies and SSE events.

Chat and text completions differ only in object names and choice shape, so one
``ApiShape`` per endpoint feeds one renderer for full responses and one for streams.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from router.errors import ApiError, error_payload
from serving.engine import ChoiceDelta, GenerationChunk, Usage

SSE_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class ApiShape:
    id_prefix: str
    object_full: str
    object_chunk: str
    chat: bool

    def full_choice(self, index: int, text: str, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            message = {"role": "assistant", "content": text}
            return {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}

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
            body["content"] = delta.text
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


def full_response(
    shape: ApiShape, model_id: str, request_id: str, chunks: Iterable[GenerationChunk]
) -> dict[str, Any]:
    texts: dict[int, list[str]] = {}
    finish: dict[int, str | None] = {}
    usage = Usage(0, 0)
    for chunk in chunks:
        for delta in chunk.deltas:
            texts.setdefault(delta.index, []).append(delta.text)
            finish[delta.index] = delta.finish_reason or finish.get(delta.index)
        usage = chunk.usage or usage
    choices = [shape.full_choice(i, "".join(texts[i]), finish[i]) for i in sorted(texts)]
    return {
        "id": shape.id_prefix + request_id,
        "object": shape.object_full,
        "created": int(time.time()),
        "model": model_id,
        "choices": choices,
        "usage": usage_body(usage),
    }


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
