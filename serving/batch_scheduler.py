"""The scheduler thread of the transformers engine: continuous batching of one model.

The scheduler thread owns the model. Each iteration it admits waiting requests while the
batch has room, prefills them together and merges them into the running batch, then runs
one decode step for every running sequence in a single forward pass. Each request's new
deltas go to its own asyncio queue (``call_soon_threadsafe``), one chunk per step.
"""

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from serving.batch_state import DecodeBatch, SequenceState
from serving.constraints import TokenConstraint
from serving.engine import ChoiceDelta, EngineStats, GenerationChunk, SamplingOptions, Usage
from serving.errors import EngineError, EngineFailed, EngineUnavailable
from serving.tool_output import PlainText, ToolOutput, choice_delta

logger = logging.getLogger(__name__)

QueueItem = GenerationChunk | EngineError


@dataclass(eq=False)  # identity hashing: requests are tracked in sets
class ScheduledRequest:
    prompt_ids: list[int]
    sampling: SamplingOptions
    max_tokens: int
    loop: asyncio.AbstractEventLoop
    queue: "asyncio.Queue[QueueItem]"
    constraint: Callable[[], TokenConstraint] | None = None  # a fresh one per choice
    output: Callable[[], ToolOutput] = PlainText  # each choice's text -> content, tool calls
    aborted: bool = False
    unfinished: int = 0
    completion_tokens: int = 0

    def publish(self, item: QueueItem) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's event loop is closed: nobody is listening
            self.aborted = True


_Row = tuple[ScheduledRequest, SequenceState]


class BatchScheduler:
    """Decodes the submitted requests on its own thread, at most ``max_batch_size``
    sequences at a time; the other methods are called from the event loop."""

    def __init__(
        self, model: Any, tokenizer: Any, eos_ids: frozenset[int], max_batch_size: int
    ) -> None:
        self._max_batch_size = max_batch_size
        self._start_sequence = functools.partial(
            SequenceState.start,
            eos_ids=eos_ids,
            tokenizer=tokenizer,
            device=model.device,
        )
        self._batch = DecodeBatch(model)
        self._rows: list[_Row] = []  # aligned with the batch's rows; scheduler thread only
        self._cond = threading.Condition()  # guards everything below
        self._waiting: deque[ScheduledRequest] = deque()
        self._running = 0
        self._stopping = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="transformers-engine", daemon=True)
        self._thread.start()

    def stats(self) -> EngineStats:
        with self._cond:
            # Sequences, not requests: a request with n=4 takes four rows of the batch.
            return EngineStats(
                time.time(),
                running=self._running,
                waiting=sum(request.sampling.n for request in self._waiting),
                max_running=self._max_batch_size,
            )

    def check(self) -> None:
        """Raise ``EngineUnavailable`` once the scheduler is shut down or dead."""
        with self._cond:
            self._raise_if_unavailable()

    def submit(self, request: ScheduledRequest) -> None:
        with self._cond:
            self._raise_if_unavailable()
            self._waiting.append(request)
            self._cond.notify()

    def abort(self, request: ScheduledRequest) -> None:
        """Drop ``request``'s rows (its consumer is gone, or done) at the next round."""
        with self._cond:
            request.aborted = True
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread; requests still in flight fail with ``EngineUnavailable``."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

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

    def _start(self, index: int, request: ScheduledRequest) -> SequenceState:
        constraint = request.constraint() if request.constraint is not None else None
        sequence = self._start_sequence(index, request.sampling, request.max_tokens, constraint)
        sequence.output = request.output()
        return sequence

    def _prefill(self, admitted: list[ScheduledRequest]) -> torch.Tensor | None:
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

    def _admit(self) -> list[ScheduledRequest] | None:
        """Move waiting requests into the batch while it has room (FIFO); sleep when idle."""
        with self._cond:
            while not (self._stopping or self._rows or self._waiting):
                self._cond.wait()
            if self._stopping:
                return None
            admitted: list[ScheduledRequest] = []
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
        deltas: dict[ScheduledRequest, list[ChoiceDelta]] = {}
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
