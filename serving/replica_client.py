"""The router-side client that makes a model deployment's handle look like any other
``Engine`` (and an embedding deployment's like any ``Embedder``)."""

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from ray import serve
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.serve.exceptions import BackPressureError, RayServeException
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from serving.embedding import EmbeddingRequest, Embeddings
from serving.engine import EngineStats, GenerationChunk, GenerationRequest
from serving.errors import EngineError, EngineOverloaded, EngineUnavailable

# Deployment states in which at least one replica serves.
_READY_STATES = frozenset({"HEALTHY", "UPSCALING", "DOWNSCALING"})


class DeploymentEngineClient:
    """The ``Engine`` protocol over a ``DeploymentHandle``: the router's view of a model.

    Ray-specific failures are translated here so the router only ever sees
    ``EngineError``s: back-pressure (bounded queue full) becomes ``EngineOverloaded``, an
    engine's own error is unwrapped from Ray's ``RayTaskError``, a dead replica becomes
    ``EngineUnavailable``.
    """

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._handle = handle

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        stream: DeploymentResponseGenerator[Any] | None = None
        try:
            # Inside the try: the caller-side queue limit is checked by `.remote()` itself.
            response = self._handle.options(stream=True).generate.remote(request)
            assert isinstance(response, DeploymentResponseGenerator)  # stream=True ensures it
            stream = response
            async for chunk in stream:
                yield chunk
        except (RayServeException, RayError) as exc:
            raise _engine_error(exc) from None
        except (GeneratorExit, asyncio.CancelledError):
            # The consumer left mid-stream (client disconnected): free the replica's slot.
            # Only here: after a Ray-side error, cancel() would re-raise that error.
            if stream is not None:
                stream.cancel()
            raise

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """The embedding deployment's vectors (``serving.embedding.Embedder``)."""
        try:
            embeddings: Embeddings = await self._handle.embed.remote(request)
        except (RayServeException, RayError) as exc:
            raise _engine_error(exc) from None
        return embeddings

    async def stats(self) -> EngineStats:
        stats: EngineStats = await self._handle.stats.remote()
        return stats

    async def replica_stats(self) -> list[EngineStats]:
        """Every replica's stats. ``broadcast`` bypasses the bounded queue, so a busy
        model still answers, and reaches replicas Serve's own router has not polled."""
        results: list[EngineStats] = await self._handle.broadcast("stats").results_async()
        return results

    async def check_health(self) -> None:
        """Ready when the controller reports a healthy deployment. Asked of the controller,
        not of a replica: a probe through the model's bounded queue would fail exactly
        when the model is busy, and take a busy-but-healthy router out of service."""
        status = await asyncio.to_thread(serve.status)
        deployment = self._handle.deployment_id
        app = status.applications.get(deployment.app_name)
        state = app.deployments.get(deployment.name) if app is not None else None
        if state is None or state.status not in _READY_STATES:
            found = "missing" if state is None else state.status
            raise EngineUnavailable(f"deployment {deployment.name} is {found}")


def _engine_error(exc: RayServeException | RayError) -> EngineError:
    if isinstance(exc, BackPressureError):
        return EngineOverloaded(str(exc))
    if isinstance(exc, RayTaskError):
        if isinstance(exc.cause, EngineError):
            return exc.cause
        return EngineUnavailable(f"replica failed: {type(exc.cause).__name__}")
    if isinstance(exc, RayActorError):
        return EngineUnavailable("replica died while serving the request")
    if isinstance(exc, RayServeException):  # no replica yet, replica unavailable, ...
        return EngineUnavailable(f"model deployment unavailable: {type(exc).__name__}")
    return EngineUnavailable(f"replica failed: {type(exc).__name__}")  # crash, OOM, ...
