"""Tool calling on the vLLM engine: the output constraint and turning output into calls.

- a named ``tool_choice``: structured output constrains the generation to that function's
  parameters, so the generated JSON *is* the call's arguments and streams as such (what
  vLLM's own OpenAI server does);
- ``required``: structured output constrains it to a JSON array of ``{name, parameters}``;
  the calls are emitted when the generation ends;
- ``auto``: the model decides; vLLM's tool parser for the model (models.yaml
  ``vllm.tool_parser``) extracts the calls from the finished text. Whole-text extraction
  rather than the parsers' streaming API: that API changed between the vLLM versions we
  support (0.26 on GPU, 0.32 on CPU); ``extract_tool_calls`` did not. So an ``auto``
  answer arrives in one piece at the end.
- ``none``: the tools are shown to the model; its text is returned as is.

vLLM is imported lazily: the default install has no vLLM.
"""

import json
import uuid
from typing import Any, Protocol

from serving.engine import ToolCallDelta, ToolUse
from serving.errors import UnsupportedFeature

Emitted = tuple[str, tuple[ToolCallDelta, ...]]


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _functions(tool_use: ToolUse) -> dict[str, dict[str, Any]]:
    """Function name -> its JSON-schema parameters."""
    found = {}
    for tool in tool_use.tools:
        function = tool["function"]
        found[function["name"]] = function.get("parameters") or {"type": "object"}
    return found


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
    return {"type": "array", "minItems": 1, "items": {"anyOf": calls}}


class ToolOutput(Protocol):
    """Turns one choice's generated text into content and tool-call deltas."""

    called: bool

    def feed(self, text: str) -> Emitted: ...

    def finish(self) -> Emitted: ...


class PlainText:
    called = False

    def feed(self, text: str) -> Emitted:
        return text, ()

    def finish(self) -> Emitted:
        return "", ()


class NamedCall:
    """The generated JSON streams as the arguments of one call to ``name``."""

    called = True

    def __init__(self, name: str) -> None:
        self._name: str | None = name

    def feed(self, text: str) -> Emitted:
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

    def feed(self, text: str) -> Emitted:
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


class ParsedCalls:
    """Buffers the text and lets the model's vLLM tool parser find calls at the end."""

    def __init__(self, parser: Any, request: Any) -> None:
        self._parser = parser
        self._request = request
        self._text = ""
        self.called = False

    def feed(self, text: str) -> Emitted:
        self._text += text
        return "", ()

    def finish(self) -> Emitted:
        extracted = self._parser.extract_tool_calls(self._text, self._request)
        if not extracted.tools_called:
            return self._text, ()
        self.called = True
        deltas = tuple(
            ToolCallDelta(i, id=call.id or _call_id(), name=call.function.name,
                          arguments=call.function.arguments)
            for i, call in enumerate(extracted.tool_calls)
        )  # fmt: skip
        return extracted.content or "", deltas


def tool_output(tool_use: ToolUse | None, parser: Any, request: Any) -> ToolOutput:
    """One choice's output handler; ``parser``/``request`` are used only for ``auto``."""
    if tool_use is None or tool_use.choice == "none":
        return PlainText()
    if tool_use.choice == "auto":
        return ParsedCalls(parser, request)
    if tool_use.choice == "required":
        return RequiredCalls()
    return NamedCall(tool_use.choice)


def auto_parser(name: str | None, tokenizer: Any, tool_use: ToolUse) -> tuple[Any, Any]:
    """vLLM's tool parser for the model and the vLLM request object it reads tools from."""
    if name is None:
        raise UnsupportedFeature(
            "tool_choice", "this model has no vllm.tool_parser configured for tool_choice auto"
        )
    from vllm.tool_parsers import ToolParserManager  # the same in 0.26-0.33

    try:  # where the protocol lives since the entrypoints were split up
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    except ImportError:  # older layout
        from vllm.entrypoints.openai.protocol import ChatCompletionRequest
    request = ChatCompletionRequest(
        model="switchboard", messages=[], tools=list(tool_use.tools), tool_choice="auto"
    )
    parser_class = ToolParserManager.get_tool_parser(name)
    try:
        parser = parser_class(tokenizer, request.tools)  # 0.32 also takes the tools
    except TypeError:
        parser = parser_class(tokenizer)
    return parser, request
