"""Start a generation on the chosen engine and wait for its first chunk.

Awaiting the first chunk before answering (as Ray Serve LLM's ingress does) means every
refusal that happens before the first byte (context too long, queue full, replica gone)
still becomes a proper HTTP status, and later overflow/retry can act at this point.
"""

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from router.dispatch.failures import DeadlinePassed, EngineFailure
from serving.engine import Engine, GenerationChunk, GenerationRequest
from serving.errors import EngineError, EngineFailed, is_engine_fault


class StreamHealth(Protocol):
    """Hears how a stream ended (a ``CircuitBreaker`` does)."""

    def succeeded(self) -> None: ...

    def failed(self) -> None: ...

    def release(self) -> None: ...


@dataclass
class PrimedStream:
    """A generation that has produced its first chunk; iterate to get all chunks."""

    model_id: str
    first: GenerationChunk
    rest: AsyncGenerator[GenerationChunk, None]
    on_close: Callable[[], None] | None = None  # called once, on close or collection
    # An external provider's breaker hears how the whole stream went: a provider that
    # fails mid-answer is failing, even though it sent a first chunk.
    health: "StreamHealth | None" = None
    deadline: float | None = None  # on the loop clock: the generation stops there
    on_chunk: Callable[[GenerationChunk], None] | None = None  # sees every chunk

    def __post_init__(self) -> None:
        if self.on_close is not None:
            # A response the client abandoned before reading may never be closed; the
            # finalizer still runs when it is collected, so counts cannot leak.
            self._finalizer = weakref.finalize(self, self.on_close)

    async def chunks(self) -> AsyncIterator[GenerationChunk]:
        """All chunks, first included; an engine's error surfaces as ``EngineFailure``."""
        try:
            yield self._seen(self.first)
            while True:
                try:
                    chunk = await _within(self.deadline, self.rest)
                except StopAsyncIteration:
                    break
                yield self._seen(chunk)
        except EngineError as exc:
            self._judged(failed=is_engine_fault(exc))
            raise EngineFailure(self.model_id, exc) from exc
        else:
            self._judged(failed=False)
        finally:
            await self.close()

    def _seen(self, chunk: GenerationChunk) -> GenerationChunk:
        if self.on_chunk is not None:
            self.on_chunk(chunk)
        return chunk

    def _judged(self, failed: bool) -> None:
        health, self.health = self.health, None  # one verdict per stream
        if health is not None:
            health.failed() if failed else health.succeeded()

    async def close(self) -> None:
        # An abandoned async generator is not closed by cancellation: close it so the
        # engine frees the sequence (and Ray cancels the replica call).
        try:
            with contextlib.suppress(Exception):
                await self.rest.aclose()
        finally:
            health, self.health = self.health, None
            if health is not None:  # closed before the end (the client left): no verdict
                health.release()
            if self.on_close is not None:
                self._finalizer()  # runs on_close at most once, even when cancelled


async def start_generation(
    engine: Engine,
    request: GenerationRequest,
    model_id: str,
    on_close: Callable[[], None] | None = None,
    health: "StreamHealth | None" = None,
    deadline: float | None = None,
    on_chunk: Callable[[GenerationChunk], None] | None = None,
) -> PrimedStream:
    """The stream once its first chunk is here; before that, the engine's own
    ``EngineError`` (the dispatcher decides what it means) or ``DeadlinePassed``."""
    stream = engine.generate(request)
    try:
        first = await _within(deadline, stream)
    except StopAsyncIteration:
        raise EngineFailed("the engine returned an empty stream") from None
    except DeadlinePassed:
        await stream.aclose()
        raise
    return PrimedStream(model_id, first, stream, on_close, health, deadline, on_chunk)


async def _within(
    deadline: float | None, stream: AsyncGenerator[GenerationChunk, None]
) -> GenerationChunk:
    """The next chunk, or ``DeadlinePassed`` once ``deadline`` has passed. The timeout
    wraps the wait only, never a ``yield``: a deadline must not fire in the consumer."""
    try:
        async with asyncio.timeout_at(deadline):
            return await anext(stream)
    except TimeoutError:
        raise DeadlinePassed from None
