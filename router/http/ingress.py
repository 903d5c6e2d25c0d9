"""The router deployment: Ray Serve hosts the FastAPI app from ``router.http.api``.

Engines are built in the replica: one ``DeploymentEngineClient`` per local model
handle, one ``ExternalEngine`` per external provider whose env vars are set.
"""

import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Deployment
from ray.serve.handle import DeploymentHandle

from router.auth import ApiKeyAuth
from router.config import SwitchboardConfig
from router.http.api import build_api
from router.metrics.instruments import RayInstruments
from router.metrics.request_log import emit_json_lines
from router.wiring import build_context
from serving.engine import Engine
from serving.external_engine import ExternalEngine
from serving.replica_client import DeploymentEngineClient

logger = logging.getLogger(__name__)


class RouterReplica:
    def __init__(
        self,
        config: SwitchboardConfig,
        handles: dict[str, DeploymentHandle[Any]],
        models_dir: str,
    ) -> None:
        emit_json_lines()
        clients = {model_id: DeploymentEngineClient(h) for model_id, h in handles.items()}
        engines: dict[str, Engine] = dict(clients)
        self._externals: list[ExternalEngine] = []
        for provider in config.external_providers:
            external = ExternalEngine.from_env(provider, os.environ)
            if external is not None:
                engines[provider.id] = external
                self._externals.append(external)
                logger.info("external provider %s enabled", provider.id)
        self._context = build_context(
            config,
            engines,
            load_sources={model_id: clients[model_id] for model_id in handles},
            models_dir=Path(models_dir),
            auth=ApiKeyAuth.from_settings(config.auth, os.environ),
            instruments=RayInstruments(),
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_api(self._context)

    async def __del__(self) -> None:
        # Ray Serve awaits this when the replica shuts down: close provider connections.
        for external in self._externals:
            await external.close()


# It mostly awaits I/O, so it takes no CPU from the models' share.
RouterIngress: Deployment = serve.deployment(ray_actor_options={"num_cpus": 0})(
    serve.ingress()(RouterReplica)
)
