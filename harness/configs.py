"""Fleet configs built from the repo's own models.yaml, as plain data and as files, for
the servers the tests and the benchmarks start."""

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
MODELS_YAML = REPO / "models.yaml"


def default_fleet_raw() -> dict[str, Any]:
    """The repo's own models.yaml as plain data, to mutate into broken variants."""
    raw: dict[str, Any] = yaml.safe_load(MODELS_YAML.read_text())
    return raw


def transformers_fleet_raw() -> dict[str, Any]:
    """The default fleet's models that generate, on the transformers engine (``serve
    --engine transformers``). Tests of the router, the overflow and the metrics run their
    fleets on it: a model loads in 1.5 s there (about 20 s on vLLM's CPU build). The
    default fleet itself, on vLLM and with its embedding model, is served whole by
    ``tests/e2e`` and ``tests/vllm``; ``embedding_model_raw`` adds that model to a fleet."""
    raw = default_fleet_raw()
    raw["models"] = [model for model in raw["models"] if model.get("task") != "embed"]
    for model in raw["models"]:
        model["engine"] = "transformers"
    return raw


def embedding_model_raw() -> dict[str, Any]:
    """The default fleet's embedding model entry (``task: embed``), to add to a fleet."""
    raw: dict[str, Any] = next(m for m in default_fleet_raw()["models"] if m.get("task") == "embed")
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


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
