"""Small builders of real config objects for tests (mirrors models.yaml)."""

import socket
from pathlib import Path
from typing import Any

import yaml

from router.config import SwitchboardConfig
from router.config_loader import parse_config
from serving.transformers_engine import TransformersEngine

REPO = Path(__file__).resolve().parent.parent
MODELS_YAML = REPO / "models.yaml"


def default_fleet_raw() -> dict[str, Any]:
    """The repo's own models.yaml as plain data, to mutate into broken variants."""
    raw: dict[str, Any] = yaml.safe_load(MODELS_YAML.read_text())
    return raw


def transformers_fleet_raw() -> dict[str, Any]:
    """The default fleet on the transformers engine (``serve --engine transformers``).
    Tests of the router, the overflow and the metrics run their fleets on it: a model loads
    in 1.5 s there (about 20 s on vLLM's CPU build). The default fleet itself, on vLLM,
    is served whole by ``tests/e2e`` and ``tests/vllm``."""
    raw = default_fleet_raw()
    for model in raw["models"]:
        model["engine"] = "transformers"
    return raw


def smol_only_raw(**model_overrides: Any) -> dict[str, Any]:
    """A one-model fleet: the small default model on the transformers engine, with
    overrides on its entry."""
    raw = transformers_fleet_raw()
    smol = next(m for m in raw["models"] if m["id"] == "smollm2-135m")
    raw["models"] = [{**smol, **model_overrides}]
    for provider in raw["external_providers"]:  # count with the one local tokenizer left
        provider["count_tokens_with"] = smol["id"]
    return raw


def smol_only_config(**model_overrides: Any) -> SwitchboardConfig:
    return parse_config(smol_only_raw(**model_overrides))


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load_smol_engine(model_dir: Path, max_output_tokens: int) -> TransformersEngine:
    """The real small model with the default fleet's engine settings and a chosen cap on
    output tokens (a small cap keeps valid requests cheap in tests)."""
    model = smol_only_config().models[0]
    return TransformersEngine.load(
        model_dir,
        context_window=model.context_window,
        max_output_tokens=max_output_tokens,
        args=model.transformers,
    )
