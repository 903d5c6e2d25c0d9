"""One real embedder and one training run on the synthetic labels, shared by the tests."""

import pytest

from router.classifier.embedder import Embedder, packaged_model_dir
from router.classifier.train import Trained, train
from tests.unit.router.classifier.synthetic import synthetic_records

PROVENANCE = {"labels_sha256": "0" * 64, "small_model": "small", "large_model": "large"}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(packaged_model_dir())


@pytest.fixture(scope="session")
def trained(embedder: Embedder) -> Trained:
    return train(synthetic_records(), embedder, seed=0, held_out_share=0.25, provenance=PROVENANCE)
