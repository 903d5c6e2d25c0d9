"""Tool calls as an engine produces them: the output constraint that forces a tool choice,
and each choice's generated text turned into content and tool-call deltas.

- a named ``tool_choice``: the generation is constrained to that function's parameters,
  so the generated JSON *is* the call's arguments and streams as such (what vLLM's own
  OpenAI server does);
- ``required``: constrained to a JSON array of ``{name, parameters}``; the calls are
  emitted when the generation ends;
- ``auto``: the model decides; a parser for its tool-call format finds the calls in its
  text as it streams (vLLM's parser for the model on the vLLM engine, ``HermesCalls`` on
  the transformers engine);
- ``none``: the tools are shown to the model; its text is returned as is.
"""

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from serving.engine import ChoiceDelta, FinishReason, GenerationRequest, ToolCallDelta, ToolUse
from serving.errors import UnsupportedFeature

Emitted = tuple[str, tuple[ToolCallDelta, ...]]


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_names(tool_use: ToolUse) -> list[str]:
    return list(_functions(tool_use))


# A forced array of calls ends there at the latest: a small model, free to add "one more
# call", may otherwise go on until max_tokens cuts the array in half.
MAX_PARALLEL_CALLS = 8
# OpenAI: a function without `parameters` takes none.
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def _functions(tool_use: ToolUse) -> dict[str, dict[str, Any]]:
    """Function name -> the JSON schema its arguments are decoded under."""
    found = {}
    for tool in tool_use.tools:
        function = tool["function"]
        found[function["name"]] = _closed(function.get("parameters") or _NO_PARAMETERS)
    return found


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema that does not say ``additionalProperties`` gets ``false``: the
    arguments are the declared ones. (JSON Schema's default, true, lets a small model go
    on inventing keys until ``max_tokens`` cuts the call in half.)"""
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        return {**schema, "additionalProperties": False}
    return schema


def output_schema(tool_use: ToolUse | None) -> dict[str, Any] | None:
    """The structured-output JSON schema that forces the tool choice, if it needs one."""
    if tool_use is None or tool_use.choice in ("none", "auto"):
        return None
    functions = _functions(tool_use)
    if tool_use.choice != "required":
        return functions[tool_use.choice]
    calls = [
        {
            "type": "object",
            "properties": {"name": {"const": name}, "parameters": parameters},
            "required": ["name", "parameters"],
        }
        for name, parameters in functions.items()
    ]
    most = MAX_PARALLEL_CALLS if tool_use.parallel else 1
    return {"type": "array", "minItems": 1, "maxItems": most, "items": {"anyOf": calls}}


@dataclass(frozen=True)
class OutputConstraint:
    """What a generation's output must be: JSON matching ``schema`` (None: any object)."""

    schema: Mapping[str, Any] | None
    param: str  # the request parameter it comes from, named in a refusal


def output_constraint(request: GenerationRequest) -> OutputConstraint | None:
    """A forced tool choice's call, else the JSON output asked for; None: free text.
    One rule for both engines."""
    forced = output_schema(request.tool_use)
    if forced is not None:
        return OutputConstraint(forced, "tool_choice")
    if request.json_output is not None:
        return OutputConstraint(request.json_output.schema, "response_format")
    return None


class ToolOutput(Protocol):
    """Turns one choice's generated text into content and tool-call deltas."""

    called: bool

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        """``token_ids``: the tokens of ``text``, for parsers that read them."""
        ...

    def finish(self) -> Emitted: ...


class PlainText:
    called = False

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        return text, ()

    def finish(self) -> Emitted:
        return "", ()


class NamedCall:
    """The generated JSON streams as the arguments of one call to ``name``."""

    called = True

    def __init__(self, name: str) -> None:
        self._name: str | None = name

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        if self._name is None:
            return "", (ToolCallDelta(0, arguments=text),) if text else ()
        first = ToolCallDelta(0, id=_call_id(), name=self._name, arguments=text)
        self._name = None
        return "", (first,)

    def finish(self) -> Emitted:
        return "", ()


class RequiredCalls:
    """Buffers the constrained JSON array and emits its calls at the end."""

    called = True

    def __init__(self) -> None:
        self._text = ""

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        self._text += text
        return "", ()

    def finish(self) -> Emitted:
        try:
            calls = json.loads(self._text)
        except ValueError as exc:  # cut by max_tokens before the array closed
            raise UnsupportedFeature(
                "max_tokens", "the tool call was cut off by max_tokens; raise max_tokens"
            ) from exc
        deltas = tuple(
            ToolCallDelta(i, id=_call_id(), name=call["name"],
                          arguments=json.dumps(call["parameters"], ensure_ascii=False))
            for i, call in enumerate(calls)
        )  # fmt: skip
        return "", deltas


class HermesCalls:
    """``auto`` in the Hermes format (Qwen2.5's template asks for it): calls are JSON
    objects ``{"name", "arguments"}`` between ``<tool_call>`` and ``</tool_call>``. Text
    before the first tag streams as content; each call is emitted when its closing tag
    arrives; a call that never closes, or is not such an object, stays text.

    Small models often drop the tags and answer with the bare call object (or the object
    in a code fence): an answer that starts that way is held to the end and, if it is a
    call to one of the request's tools, becomes that call; otherwise it is content."""

    OPEN, CLOSE = "<tool_call>", "</tool_call>"

    def __init__(self, tool_names: Iterable[str]) -> None:
        self._names = frozenset(tool_names)
        self._pending = ""  # text that may still be (the start of) a call
        self._started = False  # some content or call went out: not a bare call
        self._bare = False  # the answer opened like a bare call: held to the end
        self._calls = 0
        self.called = False

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        self._pending += text
        if not self._started and not self._bare:
            opening = self._pending.lstrip()
            if not opening:
                return "", ()
            self._bare = opening[0] in "{`"
        if self._bare:
            return "", ()
        self._started = True
        return self._scan()

    def finish(self) -> Emitted:
        rest, self._pending = self._pending, ""
        if self._bare:
            call = self._call(_unfenced(rest))
            if call is not None:
                return "", (call,)
        return rest, ()

    def _scan(self) -> Emitted:
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
            call = self._call(self._pending[len(self.OPEN) : end])
            if call is None:
                content += self._pending[: end + len(self.CLOSE)]
            else:
                calls.append(call)
            self._pending = self._pending[end + len(self.CLOSE) :]

    def _call(self, body: str) -> ToolCallDelta | None:
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        if not isinstance(parsed, dict) or parsed.get("name") not in self._names:
            return None
        arguments = parsed.get("arguments", parsed.get("parameters", {}))
        self.called = True
        self._calls += 1
        return ToolCallDelta(
            self._calls - 1, id=_call_id(), name=parsed["name"],
            arguments=json.dumps(arguments, ensure_ascii=False),
        )  # fmt: skip


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


def choice_delta(
    output: ToolOutput,
    index: int,
    text: str,
    finish: FinishReason | None,
    token_ids: Sequence[int] = (),
) -> ChoiceDelta:
    """One choice's new text (and its finish, if it finished) through its handler."""
    content, calls = output.feed(text, token_ids)
    if finish is not None:
        more_content, more_calls = output.finish()
        content, calls = content + more_content, calls + more_calls
        if finish == "stop" and output.called:
            finish = "tool_calls"
    return ChoiceDelta(index, content, finish, calls)


def tool_output(
    tool_use: ToolUse | None, auto: Callable[[], ToolOutput] | None = None
) -> ToolOutput:
    """One choice's output handler; ``auto`` makes the engine's parser for ``auto``."""
    if tool_use is None or tool_use.choice == "none":
        return PlainText()
    if tool_use.choice == "auto":
        if auto is None:
            raise UnsupportedFeature(
                "tool_choice", "this model has no tool-call parser configured for auto"
            )
        return auto()
    if tool_use.choice == "required":
        return RequiredCalls()
    return NamedCall(tool_use.choice)
