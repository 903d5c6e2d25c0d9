"""One vLLM request's DELTA ``RequestOutput``s -> engine chunks, with exact usage and
tool calls (each choice's text goes through its ``ToolOutput``)."""

from collections.abc import Callable
from typing import Any

from serving.engine import ChoiceDelta, FinishReason, GenerationChunk, Usage
from serving.errors import EngineFailed
from serving.tool_output import ToolOutput, choice_delta

# vLLM's finish reasons; "abort" and "error" are failures, not endings.
_FINISHES: dict[str, FinishReason] = {"stop": "stop", "length": "length", "repetition": "stop"}


class OutputStream:
    def __init__(
        self, prompt_tokens: int, copies: int, make_output: Callable[[], ToolOutput]
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.copies = copies  # each vLLM choice stands for this many identical ones
        self.completion_tokens = 0  # across the n choices
        self.finished = False
        self._make_output = make_output
        self._outputs: dict[int, ToolOutput] = {}

    def chunk(self, output: Any) -> GenerationChunk | None:
        deltas: list[ChoiceDelta] = []
        for choice in output.outputs:  # only the choices with news, in DELTA mode
            self.completion_tokens += len(choice.token_ids) * self.copies
            delta = self._delta(choice)
            if delta.text or delta.tool_calls or delta.finish_reason is not None:
                first = choice.index * self.copies
                deltas.extend(
                    ChoiceDelta(index, delta.text, delta.finish_reason, delta.tool_calls)
                    for index in range(first, first + self.copies)
                )
        self.finished = bool(output.finished)
        usage = Usage(self.prompt_tokens, self.completion_tokens) if self.finished else None
        if not deltas and usage is None:
            return None
        return GenerationChunk(tuple(deltas), usage)

    def _delta(self, choice: Any) -> ChoiceDelta:
        handler = self._outputs.setdefault(choice.index, self._make_output())
        finish = _finish_reason(choice.finish_reason)
        return choice_delta(handler, choice.index, choice.text, finish, choice.token_ids)


def _finish_reason(reason: str | None) -> FinishReason | None:
    if reason is None:
        return None
    if reason in _FINISHES:
        return _FINISHES[reason]
    raise EngineFailed(f"vLLM ended the request with {reason!r}")  # "abort" or "error"
