"""``tool_choice: auto`` readers shared by the engines: the Hermes format (the transformers
engine's parser) and the fallback for the bare call objects small models write instead of
their template's tagged format (both engines)."""

import json
from collections.abc import Iterable, Sequence

from serving.engine import ToolCallDelta
from serving.tool_output import Emitted, ToolOutput, call_id


class HermesCalls:
    """``auto`` in the Hermes format (Qwen2.5's template asks for it): calls are JSON
    objects ``{"name", "arguments"}`` between ``<tool_call>`` and ``</tool_call>``. Text
    before the first tag streams as content; each call is emitted when its closing tag
    arrives; a call that never closes, or is not such an object, stays text."""

    OPEN, CLOSE = "<tool_call>", "</tool_call>"

    def __init__(self, tool_names: Iterable[str]) -> None:
        self._names = frozenset(tool_names)
        self._pending = ""  # text that may still be (the start of) a call
        self._calls = 0
        self.called = False

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        self._pending += text
        content, calls = "", list[ToolCallDelta]()
        while True:
            start = self._pending.find(self.OPEN)
            if start < 0:
                keep = _partial_suffix(self._pending, self.OPEN)
                content += self._pending[: len(self._pending) - keep]
                self._pending = self._pending[len(self._pending) - keep :]
                return content, tuple(calls)
            content += self._pending[:start]
            self._pending = self._pending[start:]
            end = self._pending.find(self.CLOSE)
            if end < 0:
                return content, tuple(calls)
            call = parse_call(self._pending[len(self.OPEN) : end], self._names, self._calls)
            if call is None:
                content += self._pending[: end + len(self.CLOSE)]
            else:
                calls.append(call)
                self._calls += 1
                self.called = True
            self._pending = self._pending[end + len(self.CLOSE) :]

    def finish(self) -> Emitted:
        rest, self._pending = self._pending, ""
        return rest, ()


class BareCallFallback:
    """Small models often drop their template's call tags and answer with the bare call
    object, or the object in a code fence. An answer that opens that way (``{`` or a
    backtick) is held to the end and, if it is a call to one of the request's tools,
    becomes that call; anything else goes to ``inner``, the reader of the model's own
    format, which sees the whole text as if it had streamed."""

    def __init__(self, inner: ToolOutput, tool_names: Iterable[str]) -> None:
        self._inner = inner
        self._names = frozenset(tool_names)
        self._held = ""
        self._held_ids: list[int] = []
        self._holding = True  # until the answer's first visible character says otherwise
        self._bare_call = False

    @property
    def called(self) -> bool:
        return self._bare_call or self._inner.called

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        if not self._holding:
            return self._inner.feed(text, token_ids)
        self._held += text
        self._held_ids.extend(token_ids)
        opening = self._held.lstrip()
        if not opening or opening[0] in "{`":
            return "", ()
        self._holding = False
        return self._release()

    def finish(self) -> Emitted:
        if self._holding:
            call = parse_call(_unfenced(self._held), self._names, 0)
            if call is not None:
                self._bare_call = True
                return "", (call,)
            content, calls = self._release()
            more_content, more_calls = self._inner.finish()
            return content + more_content, calls + more_calls
        return self._inner.finish()

    def _release(self) -> Emitted:
        held, ids = self._held, self._held_ids
        self._held, self._held_ids = "", []
        return self._inner.feed(held, ids)


def hermes_output(tool_names: Iterable[str]) -> ToolOutput:
    """One choice's ``auto`` reader for a model whose template asks for Hermes calls."""
    names = frozenset(tool_names)
    return BareCallFallback(HermesCalls(names), names)


def parse_call(body: str, tool_names: frozenset[str], index: int) -> ToolCallDelta | None:
    """``{"name", "arguments"}`` (or ``"parameters"``) naming one of the request's tools."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("name") not in tool_names:
        return None
    arguments = parsed.get("arguments", parsed.get("parameters", {}))
    text = json.dumps(arguments, ensure_ascii=False)
    return ToolCallDelta(index, id=call_id(), name=parsed["name"], arguments=text)


def _unfenced(text: str) -> str:
    """``text`` without a Markdown code fence around it (either end may be missing)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.partition("\n")[2]
    return text.removesuffix("```").strip()


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that begins ``tag``."""
    for length in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0
