"""The Ray Serve model deployments: one per local model, each replica hosting that model's
engine (``ModelDeployment``) or, for an embedding model, its embedder
(``EmbeddingDeployment``), with the Serve options its models.yaml entry gives it."""

import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve import Deployment

from serving.config import LocalEngineConfig
from serving.embedding import Embedder, EmbeddingRequest, Embeddings
from serving.engine import Engine, EngineStats, GenerationChunk, GenerationRequest
from serving.engines import load_embedder, load_engine
from serving.metrics import EngineLoadGauges
from serving.weights import prepared_dir

logger = logging.getLogger(__name__)


class _Replica:
    """What every model replica does, whatever it hosts: Ray Serve calls ``check_health``
    periodically and restarts the replica when it raises; routers poll ``stats``."""

    def __init__(self, model: LocalEngineConfig, hosted: Engine | Embedder) -> None:
        self._hosted = hosted
        self._gauges = EngineLoadGauges(model.id)

    async def stats(self) -> EngineStats:
        # Routers poll this several times a second, so the exported gauges stay fresh.
        stats = await self._hosted.stats()
        self._gauges.report(stats)
        return stats

    async def check_health(self) -> None:
        await self._hosted.check_health()


class ModelReplica(_Replica):
    """Hosts one engine."""

    def __init__(self, model: LocalEngineConfig, models_dir: str) -> None:
        folder = prepared_dir(model, Path(models_dir))
        self._engine = load_engine(model, folder)
        super().__init__(model, self._engine)
        logger.info("model %s loaded from %s with %s", model.id, folder, model.engine)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        async for chunk in self._engine.generate(request):
            yield chunk


class EmbeddingReplica(_Replica):
    """Hosts one embedder, for a model whose ``task`` is ``embed``."""

    def __init__(self, model: LocalEngineConfig, models_dir: str) -> None:
        folder = prepared_dir(model, Path(models_dir))
        self._embedder = load_embedder(model, folder)
        super().__init__(model, self._embedder)
        logger.info("embedding model %s loaded from %s with %s", model.id, folder, model.engine)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        return await self._embedder.embed(request)


# Built by call rather than as a class decorator: type checkers keep a decorated class's
# type, so `.options()` / `.bind()` would be invisible to them.
ModelDeployment: Deployment = serve.deployment()(ModelReplica)
EmbeddingDeployment: Deployment = serve.deployment()(EmbeddingReplica)


def model_deployment(model: LocalEngineConfig) -> Deployment:
    """The deployment that serves ``model``, by its task."""
    return EmbeddingDeployment if model.task == "embed" else ModelDeployment


def deployment_options(model: LocalEngineConfig) -> dict[str, Any]:
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
