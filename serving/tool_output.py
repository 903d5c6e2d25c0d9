"""Tool calls as an engine produces them: the output constraint that forces a tool choice,
and each choice's generated text turned into content and tool-call deltas.

- a named ``tool_choice``: the generation is constrained to that function's parameters,
  so the generated JSON *is* the call's arguments and streams as such (what vLLM's own
  OpenAI server does);
- ``required``: constrained to a JSON array of ``{name, parameters}``; the calls are
  emitted when the generation ends;
- ``auto``: the model decides; a parser for its tool-call format finds the calls in its
  text as it streams (vLLM's parser for the model on the vLLM engine, ``HermesCalls`` on
  the transformers engine; ``serving.auto_calls``);
- ``none``: the tools are shown to the model; its text is returned as is.
"""

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from serving.engine import ChoiceDelta, FinishReason, GenerationRequest, ToolCallDelta, ToolUse
from serving.errors import UnsupportedFeature

Emitted = tuple[str, tuple[ToolCallDelta, ...]]


def call_id() -> str:
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

    @property
    def called(self) -> bool:
        """Whether a tool call went out (the choice then finishes with ``tool_calls``)."""
        ...

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
        first = ToolCallDelta(0, id=call_id(), name=self._name, arguments=text)
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
            ToolCallDelta(i, id=call_id(), name=call["name"],
                          arguments=json.dumps(call["parameters"], ensure_ascii=False))
            for i, call in enumerate(calls)
        )  # fmt: skip
        return "", deltas


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
