"""The router deployment: Ray Serve hosts the FastAPI app from ``router.api``.

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

from router.api import RouterContext, build_api
from router.auth import ApiKeyAuth
from router.config import SwitchboardConfig
from router.routing.build import build_pipeline
from serving.deployment import DeploymentEngineClient
from serving.engine import Engine
from serving.external_engine import ExternalEngine

logger = logging.getLogger(__name__)


class RouterReplica:
    def __init__(
        self,
        config: SwitchboardConfig,
        handles: dict[str, DeploymentHandle[Any]],
        models_dir: str,
    ) -> None:
        engines: dict[str, Engine] = {
            model_id: DeploymentEngineClient(handle) for model_id, handle in handles.items()
        }
        self._externals: list[ExternalEngine] = []
        for provider in config.external_providers:
            external = ExternalEngine.from_env(provider, os.environ)
            if external is not None:
                engines[provider.id] = external
                self._externals.append(external)
                logger.info("external provider %s enabled", provider.id)
        self._context = RouterContext(
            engines=engines,
            pipeline=build_pipeline(config, Path(models_dir), enabled=set(engines)),
            aliases=config.router.aliases,
            auth=ApiKeyAuth.from_settings(config.auth, os.environ),
            model_cards=model_cards(config, engines),
            max_body_bytes=config.router.max_body_bytes,
            log_prompts=config.router.log_prompts,
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


def model_cards(
    config: SwitchboardConfig, engines: dict[str, Engine]
) -> tuple[dict[str, Any], ...]:
    """``/v1/models`` entries: every servable model, then the routing aliases."""
    windows = {m.id: m.context_window for m in config.models}
    windows |= {p.id: p.context_window for p in config.external_providers}
    cards = [_card(model_id, "switchboard", windows[model_id]) for model_id in engines]
    # An alias can reach every serving model: advertise the largest window among them.
    widest = max(windows[model_id] for model_id in engines)
    cards += [_card(alias, "switchboard-router", widest) for alias in config.router.aliases]
    return tuple(cards)


def _card(model_id: str, owner: str, context_window: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": owner,
        "context_window": context_window,
    }
