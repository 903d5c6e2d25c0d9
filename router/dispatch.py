"""Start a generation on the chosen engine and wait for its first chunk.

Awaiting the first chunk before answering (as Ray Serve LLM's ingress does) means every
refusal that happens before the first byte (context too long, queue full, replica gone)
still becomes a proper HTTP status, and later overflow/retry can act at this point.
"""

import contextlib
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from router.errors import InternalError, from_engine_error
from serving.engine import Engine, GenerationChunk, GenerationRequest
from serving.errors import EngineError


@dataclass
class PrimedStream:
    """A generation that has produced its first chunk; iterate to get all chunks."""

    model_id: str
    first: GenerationChunk
    rest: AsyncGenerator[GenerationChunk, None]
    on_close: Callable[[], None] | None = None  # called once, on close or collection

    def __post_init__(self) -> None:
        if self.on_close is not None:
            # A response the client abandoned before reading may never be closed; the
            # finalizer still runs when it is collected, so counts cannot leak.
            self._finalizer = weakref.finalize(self, self.on_close)

    async def chunks(self) -> AsyncIterator[GenerationChunk]:
        """All chunks, first included; engine failures surface as ``ApiError``."""
        try:
            yield self.first
            async for chunk in self.rest:
                yield chunk
        except EngineError as exc:
            raise from_engine_error(exc, self.model_id) from exc
        finally:
            await self.close()

    async def close(self) -> None:
        # An abandoned async generator is not closed by cancellation: close it so the
        # engine frees the sequence (and Ray cancels the replica call).
        try:
            with contextlib.suppress(Exception):
                await self.rest.aclose()
        finally:
            if self.on_close is not None:
                self._finalizer()  # runs on_close at most once, even when cancelled


async def start_generation(
    engine: Engine,
    request: GenerationRequest,
    model_id: str,
    on_close: Callable[[], None] | None = None,
) -> PrimedStream:
    stream = engine.generate(request)
    try:
        first = await anext(stream)
    except EngineError as exc:
        raise from_engine_error(exc, model_id) from exc
    except StopAsyncIteration:
        raise InternalError(f"model {model_id!r} returned an empty stream") from None
    return PrimedStream(model_id=model_id, first=first, rest=stream, on_close=on_close)
