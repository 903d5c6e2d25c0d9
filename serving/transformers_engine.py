"""The in-process transformers engine: continuous batching on one scheduler thread.

Requests are checked and encoded on the event loop, then handed to the scheduler thread
(``serving.batch_scheduler``), which owns the model. Tokens travel to the asyncio side
through one queue per request (``call_soon_threadsafe``); the async generator coalesces
whatever has arrived into one chunk, so a slow consumer gets larger chunks rather than a
backlog.
"""

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.auto_calls import hermes_output
from serving.batch_scheduler import BatchScheduler, QueueItem, ScheduledRequest
from serving.batch_state import eos_token_ids
from serving.config import TransformersEngineArgs
from serving.constraints import GrammarTokenizer, TokenConstraint
from serving.engine import (
    ChoiceDelta,
    EngineStats,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    ToolCallDelta,
)
from serving.errors import EngineError, UnsupportedFeature
from serving.limits import completion_budget
from serving.prompts import encode_prompt
from serving.tool_output import output_constraint, tool_names, tool_output

logger = logging.getLogger(__name__)


class TransformersEngine:
    """Serves one causal LM from a local folder; implements ``serving.engine.Engine``."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        context_window: int,
        max_output_tokens: int | None,
        max_batch_size: int,
        tool_parser: Literal["hermes"] | None = None,
    ) -> None:
        self._tokenizer = tokenizer
        self._tool_parser = tool_parser
        self._context_window = context_window
        self._max_output_tokens = max_output_tokens
        self._max_batch_size = max_batch_size
        eos_ids = eos_token_ids(model, tokenizer)
        self._grammar = GrammarTokenizer(tokenizer, eos_ids)
        self._scheduler = BatchScheduler(model, tokenizer, eos_ids, max_batch_size)

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        context_window: int,
        max_output_tokens: int | None,
        args: TransformersEngineArgs,
    ) -> "TransformersEngine":
        """Load tokenizer and weights from a prepared folder (never the network)."""
        if args.torch_threads is not None:
            torch.set_num_threads(args.torch_threads)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=getattr(torch, args.dtype), local_files_only=True
        )
        model.eval()
        logger.info("loaded %s (%s)", model_dir, args.dtype)
        return cls(
            model,
            tokenizer,
            context_window=context_window,
            max_output_tokens=max_output_tokens,
            max_batch_size=args.max_batch_size,
            tool_parser=args.tool_parser,
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        tool_use = request.tool_use
        auto = None
        if tool_use is not None and self._tool_parser == "hermes":
            auto = functools.partial(hermes_output, tool_names(tool_use))
        output = functools.partial(tool_output, tool_use, auto)
        output()  # auto without a parser for this model is a 400, before queueing
        constraint = self._constraint(request)
        if request.sampling.n > self._max_batch_size:
            # n sequences decode side by side: more than the batch holds would never fit.
            raise UnsupportedFeature(
                "n", f"n={request.sampling.n} is over this model's batch of {self._max_batch_size}"
            )
        # On the event loop: milliseconds. The tokenizer is shared with the scheduler thread
        # safely: nothing changes its truncation/padding state.
        tools = list(tool_use.tools) if tool_use is not None else None
        prompt_ids = encode_prompt(self._tokenizer, request.prompt, tools)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        max_tokens = completion_budget(
            len(prompt_ids),
            request.sampling.max_tokens,
            context_window=self._context_window,
            max_output_tokens=self._max_output_tokens,
        )
        pending = ScheduledRequest(
            prompt_ids, request.sampling, max_tokens, loop, queue, constraint, output
        )
        self._scheduler.submit(pending)
        try:
            while True:
                chunk = await _next_chunk(queue)
                yield chunk
                if chunk.usage is not None:
                    return
        finally:
            # Consumer gone (disconnect, cancellation) or done: the scheduler drops its rows.
            self._scheduler.abort(pending)

    def _constraint(self, request: GenerationRequest) -> Callable[[], TokenConstraint] | None:
        """A factory of the grammar each choice decodes under (``output_constraint``); a
        schema the grammar compiler refuses is a 400, raised here before queueing."""
        constraint = output_constraint(request)
        if constraint is None:
            return None
        make = functools.partial(self._grammar.constraint, constraint.schema, constraint.param)
        make()
        return make

    async def stats(self) -> EngineStats:
        return self._scheduler.stats()

    async def check_health(self) -> None:
        self._scheduler.check()

    def close(self) -> None:
        """Stop the scheduler; requests still in flight fail with ``EngineUnavailable``."""
        self._scheduler.close()


async def _next_chunk(queue: "asyncio.Queue[QueueItem]") -> GenerationChunk:
    """Wait for the next item, then fold everything else already there into one chunk."""
    items = [await queue.get()]
    while not queue.empty():
        items.append(queue.get_nowait())
    texts: dict[int, str] = {}
    calls: dict[int, tuple[ToolCallDelta, ...]] = {}
    reasons: dict[int, FinishReason | None] = {}
    usage = None
    for item in items:
        if isinstance(item, EngineError):
            raise item
        for delta in item.deltas:
            texts[delta.index] = texts.get(delta.index, "") + delta.text
            calls[delta.index] = calls.get(delta.index, ()) + delta.tool_calls
            reasons[delta.index] = delta.finish_reason
        usage = item.usage
    deltas = tuple(
        ChoiceDelta(index, text, reasons[index], calls[index]) for index, text in texts.items()
    )
    return GenerationChunk(deltas, usage)
