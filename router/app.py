"""The Ray Serve application builder: ``models.yaml`` -> router + one deployment per model.

Used by ``switchboard serve``, ``serve run router.app:build_app config_path=...`` and a
KubeRay ``serveConfigV2`` (``import_path: router.app:build_app``) alike.

No ``from __future__ import annotations`` here: Ray validates ``args`` against the
builder's annotation, and string annotations silently disable that validation.
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from ray.serve import Application

from router.config import SwitchboardConfig
from router.config_loader import check_weights, load_config
from router.http.ingress import RouterIngress
from serving.config import EngineName
from serving.replica import ModelDeployment, deployment_options
from serving.weights import default_models_dir

APP_NAME = "switchboard"


class SwitchboardArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config_path: str = "models.yaml"
    models_dir: str | None = None  # default: $SWITCHBOARD_MODELS_DIR or the user cache
    engine: EngineName | None = None  # every local model on this engine (`serve --engine`)


def build_app(args: SwitchboardArgs) -> Application:
    config = load_config(Path(args.config_path), engine=args.engine)
    models_dir = Path(args.models_dir) if args.models_dir else default_models_dir()
    check_weights(config, models_dir, source=args.config_path)
    handles = {
        model.id: ModelDeployment.options(**deployment_options(model)).bind(model, str(models_dir))
        for model in config.models
    }
    router = RouterIngress.options(**router_options(config))
    application: Application = router.bind(config, handles, str(models_dir))
    return application


def router_options(config: SwitchboardConfig) -> dict[str, Any]:
    """models.yaml -> Ray Serve options for the router deployment (its CPU share is fixed
    on the deployment itself, in ``router.http.ingress``)."""
    return {
        "name": RouterIngress.name,
        "num_replicas": config.router.num_replicas,
        "max_ongoing_requests": config.router.max_ongoing_requests,
    }
