"""Shared by the router's unit tests: the real small model (for the live-API modules), and
the real static encoder with synthetic labels embedded by it (for the classifier's and
the training tests), whose fits run on one torch thread and, where only what is built on
them is tested, on a reduced cross-validation grid."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from router.classifier.encoders import PromptEncoder, load_encoder
from router.training import train
from router.training.labels import LabelledPrompt
from router.training.train import embed_records
from serving.transformers_engine import TransformersEngine
from tests.builders import load_smol_engine
from tests.unit.router.synthetic_labels import synthetic_records


@pytest.fixture(scope="module")
def smol_engine(smol_model_dir: Path) -> Iterator[TransformersEngine]:
    engine = load_smol_engine(smol_model_dir, max_output_tokens=32)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """For modules that fit small problems: a fit is dominated by per-step overhead, which
    a second intra-op thread multiplies several times when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def encoder() -> PromptEncoder:
    return load_encoder("static")


@pytest.fixture(scope="session")
def records() -> list[LabelledPrompt]:
    return synthetic_records()


@pytest.fixture(scope="session")
def x(encoder: PromptEncoder, records: list[LabelledPrompt]) -> NDArray[np.float32]:
    return embed_records(encoder, records)


@pytest.fixture(scope="module")
def quick_cv() -> Iterator[None]:
    """One L2 strength and two folds, for tests of what is built on ``fit_artifact`` (the
    full grid is 21 fits per artifact)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "L2_GRID", (1e-2,))
        patch.setattr(train, "CV_FOLDS", 2)
        yield
