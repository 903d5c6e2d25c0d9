"""Shared fixtures: real objects built from the repo's own models.yaml."""

import os
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from serving.transformers_embedder import TransformersEmbedder
from serving.weights import default_models_dir, missing_weights, prepared_dir
from tests.builders import minilm_model, smol_only_config


@pytest.fixture(scope="session")
def smol_model_dir() -> Path:
    """The prepared SmolLM2 folder (``make setup`` / ``switchboard models prepare``)."""
    model = smol_only_config().models[0]
    reason = missing_weights(model, default_models_dir())
    if reason is not None:
        pytest.fail(f"{reason}; run `make setup` first")
    return prepared_dir(model, default_models_dir())


@pytest.fixture(scope="session")
def minilm() -> Iterator[TransformersEmbedder]:
    """The default fleet's embedding model on the transformers engine, as it serves."""
    model = minilm_model()
    embedder = TransformersEmbedder.load(
        prepared_dir(model, default_models_dir()),
        context_window=model.context_window,
        args=model.transformers,
    )
    yield embedder
    embedder.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``vllm`` need vLLM's CPU build: a machine set up with
    ``ENGINE=transformers`` (where that build does not run) skips them; CI, which installs
    it, runs them and fails if it is missing."""
    if find_spec("vllm") is not None or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="vLLM is not installed here (make setup ENGINE=transformers)")
    for item in items:
        if item.get_closest_marker("vllm"):
            item.add_marker(skip)
