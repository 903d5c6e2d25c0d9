"""Tool calling on the vLLM engine: ``auto`` through vLLM's tool parser for the model
(models.yaml ``vllm.tool_parser``), driven through its streaming API
(``extract_tool_calls_streaming``, the same seven arguments in every vLLM the extras
allow), so calls stream as they are generated. The other tool choices are engine-agnostic
(``serving.tool_output``).

vLLM is imported lazily: the default install has no vLLM.
"""

import json
from collections.abc import Sequence
from typing import Any

from serving.auto_calls import BareCallFallback
from serving.engine import ToolCallDelta, ToolUse
from serving.errors import UnsupportedFeature
from serving.tool_output import Emitted, ToolOutput, tool_names


class ParsedCalls:
    """``auto`` through the model's vLLM tool parser, as it streams: the parser's
    streaming API (the one vLLM's own OpenAI server drives) turns each new piece of text
    into content or call fragments, so calls reach the client while they are generated.
    At the end, arguments the parser has read but not yet sent go out, as vLLM's server
    does for parsers that hold the last fragment back."""

    def __init__(self, parser: Any, request: Any) -> None:
        self.parser = parser
        self._request = request
        self._text = ""
        self._token_ids: list[int] = []
        self.called = False

    def feed(self, text: str, token_ids: Sequence[int] = ()) -> Emitted:
        previous_text, previous_ids = self._text, self._token_ids
        self._text, self._token_ids = previous_text + text, [*previous_ids, *token_ids]
        delta = self.parser.extract_tool_calls_streaming(
            previous_text, self._text, text, previous_ids, self._token_ids, list(token_ids),
            self._request,
        )  # fmt: skip
        if delta is None:
            return "", ()
        calls = tuple(_fragment(call) for call in delta.tool_calls or ())
        self.called = self.called or bool(calls)
        return delta.content or "", calls

    def finish(self) -> Emitted:
        calls = self.parser.prev_tool_call_arr
        if not calls:
            return "", ()
        index = len(calls) - 1
        arguments = calls[index].get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        streamed = self.parser.streamed_args_for_tool
        sent = streamed[index] if index < len(streamed) else ""
        if len(arguments) > len(sent) and arguments.startswith(sent):
            return "", (ToolCallDelta(index, arguments=arguments[len(sent) :]),)
        return "", ()


def _fragment(call: Any) -> ToolCallDelta:
    function = call.function
    return ToolCallDelta(
        index=call.index,
        id=call.id,
        name=function.name if function is not None else None,
        arguments=(function.arguments or "") if function is not None else "",
    )


def auto_output(name: str | None, tokenizer: Any, tool_use: ToolUse) -> ToolOutput:
    """One choice's ``auto`` reader: the model's vLLM tool parser, as it streams. A parser
    of a tagged format (one with a ``tool_call_start_token``, such as ``hermes``) also takes
    the bare call object small models write without the tags; a parser whose own format is
    the bare object (``llama3_json``) reads it itself, while it streams."""
    parsed = ParsedCalls(*auto_parser(name, tokenizer, tool_use))
    if isinstance(getattr(parsed.parser, "tool_call_start_token", None), str):
        return BareCallFallback(parsed, tool_names(tool_use))
    return parsed


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
