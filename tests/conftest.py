"""Shared fixtures: real objects built from the repo's own models.yaml."""

import os
from pathlib import Path

import pytest

# TEMPORARY until serving.weights lands: where a prepared SmolLM2 folder lives.
@pytest.fixture(scope="session")
def smol_model_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_SMOL_DIR", "/tmp/smol"))
