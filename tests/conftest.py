"""Shared fixtures: real objects built from the repo's own models.yaml."""

from pathlib import Path

import pytest

from serving.weights import default_models_dir, missing_weights, prepared_dir
from tests.builders import smol_only_config


@pytest.fixture(scope="session")
def smol_model_dir() -> Path:
    """The prepared SmolLM2 folder (``make setup`` / ``switchboard models prepare``)."""
    model = smol_only_config().models[0]
    reason = missing_weights(model, default_models_dir())
    if reason is not None:
        pytest.fail(f"{reason}; run `make setup` first")
    return prepared_dir(model, default_models_dir())
