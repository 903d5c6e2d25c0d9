"""One provider's stream events, read strictly: the typed shape of an OpenAI stream
chunk, turned into engine deltas.

A provider controls every byte here, so nothing is trusted: an event that is not the
OpenAI chunk shape (``"choices": "abc"``, arguments as an object, numbers as content)
raises ``EngineUnavailable``, which the router treats as the provider failing (failover
before the first byte, an error event after it, and a count against its breaker), never
as a bug. Strings are made encodable: a character sent as a surrogate pair split across
two events (``"\\ud83d"`` then ``"\\ude00"``) is joined again, and a surrogate that never
finds its pair becomes U+FFFD, so the answer can always be encoded as UTF-8.
"""

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.engine import ChoiceDelta, FinishReason, ToolCallDelta, Usage
from serving.errors import EngineUnavailable

_EXCERPT_CHARS = 200
_HIGH_SURROGATES = range(0xD800, 0xDC00)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Function(_Event):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(_Event):
    index: int = Field(0, ge=0, le=1024)
    id: str | None = None
    function: _Function | None = None


class _Delta(_Event):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(_Event):
    index: int = Field(0, ge=0, le=1024)
    delta: _Delta | None = None
    text: str | None = None  # /v1/completions
    finish_reason: str | None = None


class _Usage(_Event):
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)


class StreamEvent(_Event):
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: dict[str, Any] | None = None


def parse_event(payload: str, redact: Callable[[str], str]) -> StreamEvent:
    """The event in ``payload`` (one SSE ``data`` field), or ``EngineUnavailable`` whose
    excerpt of it went through ``redact`` (only a refused event is quoted, so only that
    costs a redaction)."""
    try:
        # The stdlib parser, not jiter: it keeps a lone surrogate (half a split pair) for
        # ``ChoiceReader`` to join, where jiter would refuse the whole event.
        return StreamEvent.model_validate(json.loads(payload))
    except (ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        reason = "not the OpenAI chunk shape" if isinstance(exc, ValidationError) else "not JSON"
        excerpt = encodable(redact(payload)[:_EXCERPT_CHARS])
        raise EngineUnavailable(
            f"upstream sent an invalid stream event ({reason}): {excerpt}"
        ) from None


class ChoiceReader:
    """Turns a stream's events into deltas, keeping what a split character needs between
    events (one reader per stream)."""

    def __init__(self) -> None:
        self._held: dict[int, str] = {}  # choice index -> a high surrogate awaiting its pair

    def deltas(self, event: StreamEvent) -> tuple[ChoiceDelta, ...]:
        """The event's deltas (chat: ``delta.content`` and ``delta.tool_calls``;
        completions: ``text``); role-only and empty deltas are dropped."""
        found = []
        for choice in event.choices or ():
            text = choice.delta.content if choice.delta is not None else choice.text
            text = self._joined(choice.index, text or "", final=choice.finish_reason is not None)
            fragments = (choice.delta.tool_calls if choice.delta else None) or ()
            calls = tuple(_tool_call(fragment) for fragment in fragments)
            finish = _finish(choice.finish_reason)
            if text or calls or finish is not None:
                found.append(ChoiceDelta(choice.index, text, finish, tool_calls=calls))
        return tuple(found)

    def _joined(self, index: int, text: str, final: bool) -> str:
        text = self._held.pop(index, "") + text
        if text and not final and ord(text[-1]) in _HIGH_SURROGATES:
            self._held[index], text = text[-1], text[:-1]
        return encodable(text)


def usage_of(event: StreamEvent) -> Usage | None:
    if event.usage is None:
        return None
    return Usage(event.usage.prompt_tokens, event.usage.completion_tokens)


def encodable(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _finish(reason: str | None) -> FinishReason | None:
    # content_filter and the like end the choice normally: they map to "stop".
    if reason is None:
        return None
    return "length" if reason == "length" else "tool_calls" if reason == "tool_calls" else "stop"


def _tool_call(call: _ToolCall) -> ToolCallDelta:
    function = call.function or _Function()
    return ToolCallDelta(
        index=call.index,
        id=encodable(call.id) if call.id is not None else None,
        name=encodable(function.name) if function.name is not None else None,
        arguments=encodable(function.arguments or ""),
    )
