"""The router deployment: Ray Serve hosts the FastAPI app from ``router.http.api``.

Engines are built in the replica: one ``DeploymentEngineClient`` per local model
handle (an embedding model's serves as its ``Embedder``), one ``ExternalEngine`` per
external provider whose env vars are set. The live policy (``router.config.LivePolicy``)
is the deployment's Ray Serve ``user_config``: Serve hands it to ``reconfigure`` at start
and whenever a redeploy changes only it, without restarting the replica.
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
from router.config_errors import ConfigError
from router.config_loader import parse_live_policy
from router.http.api import build_api
from router.metrics.instruments import RayInstruments
from router.metrics.request_log import emit_json_lines
from router.wiring import apply_live_policy, build_context
from serving.embedding import Embedder
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
        self._fleet = config
        self._policy_applied = False
        clients = {model_id: DeploymentEngineClient(h) for model_id, h in handles.items()}
        embedding = {m.id for m in config.models if m.task == "embed"}
        engines: dict[str, Engine] = {i: c for i, c in clients.items() if i not in embedding}
        embedders: dict[str, Embedder] = {i: c for i, c in clients.items() if i in embedding}
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
            embedders=embedders,
        )

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply a live policy. A bad one fails a starting replica, so the deploy reports
        it; a serving replica logs it, counts it and keeps the policy it has, since
        failing would take it out of service."""
        metrics = self._context.service.metrics
        try:
            config = parse_live_policy(user_config, self._fleet, source="user_config")
        except ConfigError as exc:
            if not self._policy_applied:
                raise
            metrics.policy_updated("rejected")
            logger.error("live policy rejected, the current one stays: %s", exc)
            return
        apply_live_policy(self._context, config)
        metrics.policy_updated("applied")
        logger.info("live policy applied: %d rules, %d key policies",
                    len(config.router.rules), len(config.auth.keys))  # fmt: skip
        self._policy_applied = True

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
