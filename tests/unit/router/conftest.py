"""The real small model, shared by the live-API test modules."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.transformers_engine import TransformersEngine
from tests.builders import load_smol_engine


@pytest.fixture(scope="module")
def smol_engine(smol_model_dir: Path) -> Iterator[TransformersEngine]:
    engine = load_smol_engine(smol_model_dir, max_output_tokens=32)
    yield engine
    engine.close()
