"""The Ray Serve model deployment (one per local model) and the router-side client that
makes a deployment handle look like any other ``Engine``."""

import asyncio
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from ray import serve
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.serve import Deployment
from ray.serve.exceptions import BackPressureError, RayServeException
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from serving.config import LocalModelConfig
from serving.engine import Engine, EngineStats, GenerationChunk, GenerationRequest
from serving.errors import EngineError, EngineOverloaded, EngineUnavailable
from serving.metrics import EngineLoadGauges
from serving.transformers_engine import TransformersEngine
from serving.weights import prepared_dir

logger = logging.getLogger(__name__)
# Deployment states in which at least one replica serves.
_READY_STATES = frozenset({"HEALTHY", "UPSCALING", "DOWNSCALING"})


class ModelReplica:
    """Hosts one engine. Ray Serve calls ``check_health`` periodically and restarts the
    replica when it raises."""

    def __init__(self, model: LocalModelConfig, models_dir: str) -> None:
        folder = prepared_dir(model, Path(models_dir))
        self._engine = load_engine(model, folder)
        self._gauges = EngineLoadGauges(model.id)
        logger.info("model %s loaded from %s with %s", model.id, folder, model.engine)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        async for chunk in self._engine.generate(request):
            yield chunk

    async def stats(self) -> EngineStats:
        # Routers poll this several times a second, so the exported gauges stay fresh.
        stats = await self._engine.stats()
        self._gauges.report(stats)
        return stats

    async def check_health(self) -> None:
        await self._engine.check_health()


# Built by call rather than as a class decorator: type checkers keep a decorated class's
# type, so `.options()` / `.bind()` would be invisible to them.
ModelDeployment: Deployment = serve.deployment()(ModelReplica)


def load_engine(model: LocalModelConfig, folder: Path) -> Engine:
    window, cap = model.context_window, model.max_output_tokens
    if model.engine == "vllm":
        # Imported here: vLLM is an optional extra and takes seconds to import.
        from serving.vllm_engine import VllmEngine

        engine: Engine = VllmEngine.load(
            folder, context_window=window, max_output_tokens=cap, args=model.vllm
        )
        return engine
    return TransformersEngine.load(
        folder, context_window=window, max_output_tokens=cap, args=model.transformers
    )


def deployment_options(model: LocalModelConfig) -> dict[str, Any]:
    """models.yaml -> Ray Serve options for this model's deployment."""
    options = model.deployment
    replicas: dict[str, Any] = {"num_replicas": options.num_replicas}
    if options.autoscaling is not None:
        replicas = {"autoscaling_config": options.autoscaling.model_dump()}
    return {
        "name": f"model-{model.id}",
        **replicas,
        "max_ongoing_requests": options.max_ongoing_requests,
        "max_queued_requests": options.max_queued_requests,
        "ray_actor_options": {"num_cpus": options.num_cpus, "num_gpus": options.num_gpus},
        # Loading a model takes a while on CPU; don't let Serve declare it dead meanwhile.
        "health_check_timeout_s": 60,
        "graceful_shutdown_timeout_s": 30,
        # The router polls `stats` several times a second: no access-log line per call.
        "logging_config": {"enable_access_log": False},
    }


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
        except BackPressureError as exc:
            raise EngineOverloaded(str(exc)) from None
        except RayTaskError as exc:
            if isinstance(exc.cause, EngineError):
                raise exc.cause from None
            raise EngineUnavailable(f"replica failed: {type(exc.cause).__name__}") from None
        except RayActorError:
            raise EngineUnavailable("replica died while serving the request") from None
        except RayServeException as exc:  # no replica yet, replica unavailable, ...
            raise EngineUnavailable(f"model deployment unavailable: {type(exc).__name__}") from None
        except RayError as exc:  # worker crash, node died, object lost, OOM, ...
            raise EngineUnavailable(f"replica failed: {type(exc).__name__}") from None
        except (GeneratorExit, asyncio.CancelledError):
            # The consumer left mid-stream (client disconnected): free the replica's slot.
            # Only here: after a Ray-side error, cancel() would re-raise that error.
            if stream is not None:
                stream.cancel()
            raise

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
