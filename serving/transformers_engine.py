"""The in-process transformers engine: continuous batching on one scheduler thread.

The scheduler thread owns the model. Each iteration it admits waiting requests while the
batch has room, prefills them together and merges them into the running batch, then runs
one decode step for every running sequence in a single forward pass. Tokens travel to the
asyncio side through one queue per request (``call_soon_threadsafe``); the async generator
coalesces whatever has arrived into one chunk, so a slow consumer gets larger chunks rather
than a backlog.
"""

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.auto_calls import hermes_output
from serving.batch_state import DecodeBatch, SequenceState, eos_token_ids
from serving.config import TransformersEngineArgs
from serving.constraints import GrammarTokenizer, TokenConstraint
from serving.engine import (
    ChoiceDelta,
    EngineStats,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    SamplingOptions,
    ToolCallDelta,
    Usage,
)
from serving.errors import (
    EngineError,
    EngineFailed,
    EngineUnavailable,
    UnsupportedFeature,
)
from serving.limits import completion_budget
from serving.prompts import encode_prompt
from serving.tool_output import (
    PlainText,
    ToolOutput,
    choice_delta,
    output_constraint,
    tool_names,
    tool_output,
)

logger = logging.getLogger(__name__)

_Item = GenerationChunk | EngineError


@dataclass(eq=False)  # identity hashing: requests are tracked in sets
class _Request:
    prompt_ids: list[int]
    sampling: SamplingOptions
    max_tokens: int
    loop: asyncio.AbstractEventLoop
    queue: "asyncio.Queue[_Item]"
    constraint: Callable[[], TokenConstraint] | None = None  # a fresh one per choice
    output: Callable[[], ToolOutput] = PlainText  # each choice's text -> content, tool calls
    aborted: bool = False
    unfinished: int = 0
    completion_tokens: int = 0

    def publish(self, item: _Item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's event loop is closed: nobody is listening
            self.aborted = True


_Row = tuple[_Request, SequenceState]


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
        self._start_sequence = functools.partial(
            SequenceState.start,
            eos_ids=eos_ids,
            tokenizer=tokenizer,
            device=model.device,
        )
        self._batch = DecodeBatch(model)
        self._rows: list[_Row] = []  # aligned with the batch's rows; scheduler thread only
        self._cond = threading.Condition()  # guards everything below
        self._waiting: deque[_Request] = deque()
        self._running = 0
        self._stopping = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="transformers-engine", daemon=True)
        self._thread.start()

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
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        max_tokens = completion_budget(
            len(prompt_ids),
            request.sampling.max_tokens,
            context_window=self._context_window,
            max_output_tokens=self._max_output_tokens,
        )
        pending = _Request(
            prompt_ids, request.sampling, max_tokens, loop, queue, constraint, output
        )
        self._submit(pending)
        try:
            while True:
                chunk = await _next_chunk(queue)
                yield chunk
                if chunk.usage is not None:
                    return
        finally:
            # Consumer gone (disconnect, cancellation) or done: the scheduler drops its rows.
            with self._cond:
                pending.aborted = True
                self._cond.notify()

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
        with self._cond:
            # Sequences, not requests: a request with n=4 takes four rows of the batch.
            return EngineStats(
                time.time(),
                running=self._running,
                waiting=sum(request.sampling.n for request in self._waiting),
                max_running=self._max_batch_size,
            )

    async def check_health(self) -> None:
        with self._cond:
            self._raise_if_unavailable()

    def close(self) -> None:
        """Stop the scheduler; requests still in flight fail with ``EngineUnavailable``."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _submit(self, request: _Request) -> None:
        with self._cond:
            self._raise_if_unavailable()
            self._waiting.append(request)
            self._cond.notify()

    def _raise_if_unavailable(self) -> None:
        if self._failure is not None:
            raise EngineUnavailable(f"the scheduler thread died: {self._failure!r}")
        if self._stopping:
            raise EngineUnavailable("the engine is shut down")

    def _serve(self) -> None:
        try:
            with torch.inference_mode():
                while self._iterate():
                    pass
        except BaseException as exc:
            logger.exception("transformers engine scheduler died")
            with self._cond:
                self._failure = exc
        finally:
            self._fail_pending()

    def _iterate(self) -> bool:
        """One scheduling round; False once the engine is stopping."""
        self._retire()  # rows of requests aborted since the last round
        admitted = self._admit()
        if admitted is None:
            return False
        logits = self._prefill(admitted) if admitted else None
        if admitted and logits is not None:
            new_rows = [
                (request, self._start(index, request))
                for request in admitted
                for index in range(request.sampling.n)
            ]
            self._rows.extend(new_rows)
            self._advance(new_rows, logits)
            self._retire()
        if self._rows:
            logits = self._batch.step([sequence.last_token for _, sequence in self._rows])
            self._advance(self._rows, logits)
            self._retire()
        return True

    def _start(self, index: int, request: _Request) -> SequenceState:
        constraint = request.constraint() if request.constraint is not None else None
        sequence = self._start_sequence(index, request.sampling, request.max_tokens, constraint)
        sequence.output = request.output()
        return sequence

    def _prefill(self, admitted: list[_Request]) -> torch.Tensor | None:
        """Prefill the newcomers; if that fails (e.g. out of memory on a long prompt), fail
        only them: the running batch is merged into only after the forward pass."""
        try:
            return self._batch.prefill(
                [request.prompt_ids for request in admitted],
                [request.sampling.n for request in admitted],
            )
        except Exception as exc:
            logger.exception("prefill failed; failing the %d requests admitted", len(admitted))
            for request in admitted:
                request.aborted = True
                request.publish(EngineFailed(f"prefill failed: {type(exc).__name__}"))
            with self._cond:
                self._running = len(self._rows)
            return None

    def _admit(self) -> list[_Request] | None:
        """Move waiting requests into the batch while it has room (FIFO); sleep when idle."""
        with self._cond:
            while not (self._stopping or self._rows or self._waiting):
                self._cond.wait()
            if self._stopping:
                return None
            admitted: list[_Request] = []
            rows = len(self._rows)
            while self._waiting:
                request = self._waiting[0]
                wanted = 0 if request.aborted else request.sampling.n
                if rows + wanted > self._max_batch_size:
                    break
                self._waiting.popleft()
                if wanted:
                    request.unfinished = wanted
                    admitted.append(request)
                    rows += wanted
            self._running = rows
            return admitted

    def _advance(self, rows: Sequence[_Row], logits: torch.Tensor) -> None:
        """Sample one token per row and publish one chunk per request that has news."""
        deltas: dict[_Request, list[ChoiceDelta]] = {}
        for (request, sequence), row_logits in zip(rows, logits, strict=True):
            if request.aborted:
                continue
            try:
                text = sequence.advance(row_logits)
                delta = choice_delta(sequence.output, sequence.index, text, sequence.finish_reason)
            except EngineError as exc:  # e.g. a required tool call cut off by max_tokens
                request.aborted = True
                request.publish(exc)
                continue
            except Exception as exc:  # one request's bad numbers must not stop the batch
                logger.exception("request failed while sampling; dropping it")
                request.aborted = True
                request.publish(EngineFailed(f"generation failed: {type(exc).__name__}"))
                continue
            request.completion_tokens += 1
            if sequence.finish_reason is not None:
                request.unfinished -= 1
            if delta.text or delta.tool_calls or delta.finish_reason is not None:
                deltas.setdefault(request, []).append(delta)
        for request, request_deltas in deltas.items():
            usage = None
            if request.unfinished == 0:
                usage = Usage(len(request.prompt_ids), request.completion_tokens)
            request.publish(GenerationChunk(tuple(request_deltas), usage))

    def _retire(self) -> None:
        """Drop finished and aborted rows from the batch."""
        keep = [
            index
            for index, (request, sequence) in enumerate(self._rows)
            if not request.aborted and sequence.finish_reason is None
        ]
        if len(keep) == len(self._rows):
            return
        self._batch.keep(keep)
        self._rows = [self._rows[index] for index in keep]
        with self._cond:
            self._running = len(self._rows)

    def _fail_pending(self) -> None:
        """The scheduler is gone: fail every request in flight so none waits forever."""
        with self._cond:
            self._stopping = True  # refuse new requests from now on
            requests = {request for request, _ in self._rows} | set(self._waiting)
            self._waiting.clear()
            self._running = 0
        self._rows = []
        reason = "the engine is shut down" if self._failure is None else "the engine failed"
        for request in requests:
            request.publish(EngineUnavailable(reason))


async def _next_chunk(queue: "asyncio.Queue[_Item]") -> GenerationChunk:
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
