"""The Ray Serve application builder: ``models.yaml`` -> router + one deployment per model.

Used by ``switchboard serve``, ``serve run router.app:build_app config_path=...`` and a
KubeRay ``serveConfigV2`` (``import_path: router.app:build_app``) alike.

No ``from __future__ import annotations`` here: Ray validates ``args`` against the
builder's annotation, and string annotations silently disable that validation.
"""

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from ray.serve import Application

from router.config import SwitchboardConfig
from router.config_loader import check_weights, load_config
from router.http.ingress import RouterIngress
from serving.config import EngineName
from serving.replica import deployment_options, model_deployment
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
    return fleet_app(config, models_dir)


def fleet_app(config: SwitchboardConfig, models_dir: Path) -> Application:
    """The application for a config whose weights are checked."""
    handles = {
        model.id: model_deployment(model)
        .options(
            **deployment_options(model),
            **_versioned(model.model_dump(mode="json"), models_dir),
        )
        .bind(model, str(models_dir))
        for model in config.models
    }
    router = RouterIngress.options(
        **router_options(config), **_versioned(config.fleet_dump(), models_dir)
    )
    application: Application = router.bind(config, handles, str(models_dir))
    return application


def router_options(config: SwitchboardConfig) -> dict[str, Any]:
    """models.yaml -> Ray Serve options for the router deployment (its CPU share is fixed
    on the deployment itself, in ``router.http.ingress``). Its ``user_config`` is the
    live policy, which a redeploy changes without restarting it."""
    return {
        "name": RouterIngress.name,
        "num_replicas": config.router.num_replicas,
        "max_ongoing_requests": config.router.max_ongoing_requests,
        "user_config": config.live_policy().model_dump(mode="json", exclude_defaults=True),
    }


def _versioned(built_from: dict[str, Any], models_dir: Path) -> dict[str, Any]:
    """Options that give a deployment a version: a digest of what its replicas are built
    from. ``serve.run`` gives a deployment without one a random version, so every
    redeploy would restart every replica; with this one a redeploy that changes only the
    router's ``user_config`` (``switchboard serve`` seeing a new live policy in
    models.yaml) reconfigures it in place. Ray 2.60 keeps ``version`` for its own use
    (``_internal``), as its declarative deploys (``serve deploy``, KubeRay) set versions
    from the Serve config, which replace these."""
    document = {
        "built_from": built_from,
        "models_dir": str(models_dir),
        "code": importlib.metadata.version("switchboard"),
    }
    encoded = json.dumps(document, sort_keys=True).encode("utf-8")
    return {"version": hashlib.sha256(encoded).hexdigest()[:16], "_internal": True}
