"""Leave-one-source-out on synthetic labels (one L2 strength and two folds, for speed)."""

import numpy as np
import pytest
from numpy.typing import NDArray

from router.classifier.encoders import PromptEncoder
from router.training.evaluate import pair_apgr
from router.training.generalisation import POOLED, SourceResult, leave_one_source_out
from router.training.labels import LabelledPrompt
from router.training.train import correctness, embed_records, fit_artifact, predict
from tests.unit.router.synthetic_labels import SOURCES, TWO_MODELS, synthetic_records

ROUTERS = {"predictor", "random", "prompt length", "best model per category", "oracle"}


@pytest.fixture(scope="module")
def shared(
    quick_cv: None, records: list[LabelledPrompt], x: NDArray[np.float32]
) -> list[SourceResult]:
    """Every source: the large model gains on the code prompts."""
    return leave_one_source_out(records, x, TWO_MODELS, "static")


def test_pooled_first_then_each_source(
    shared: list[SourceResult], records: list[LabelledPrompt]
) -> None:
    assert [r.source for r in shared] == [POOLED, *sorted(SOURCES)]
    assert [r.prompts for r in shared] == [len(records), *(len(records) // 3,) * 3]
    for result in shared:
        assert set(result.routers) == ROUTERS
        assert result.weak_accuracy == pytest.approx(0.5)  # general prompts only
        assert result.strong_accuracy == pytest.approx(1.0)
        assert result.routers["random"].apgr == pytest.approx(0.5)
        assert result.routers["oracle"].apgr == pytest.approx(0.75)


def test_pooled_curves_concatenate_the_held_out_predictions(shared: list[SourceResult]) -> None:
    pooled, *sources = shared
    curve = pooled.routers["oracle"].curve
    assert len(curve.shares) == pooled.prompts + 1
    assert curve.always_small == pytest.approx(np.mean([s.weak_accuracy for s in sources]))


def test_the_predictor_beats_random_on_every_held_out_source(shared: list[SourceResult]) -> None:
    for result in shared:
        routers = result.routers
        assert routers["predictor"].apgr > routers["random"].apgr + 0.1, result.source
        assert routers["predictor"].apgr <= routers["oracle"].apgr + 1e-9
        # Every category is present in the training sources, and its gap says it all.
        assert routers["best model per category"].apgr == pytest.approx(0.75)


def test_a_held_out_source_is_scored_without_its_own_labels(
    quick_cv: None, encoder: PromptEncoder
) -> None:
    """Beta, the largest source, has the opposite pattern: its large model gains on the
    general prompts. Fitted with beta's labels, a predictor ranks beta's prompts well
    (the control); held out, beta is ranked by the other sources' pattern alone and does
    worse than random, which it could not if its own labels had been used."""
    records = synthetic_records(("alpha", "gamma"), per_task=2)
    records += synthetic_records(("beta",), flipped=("beta",), per_task=6, seed=1)
    x = embed_records(encoder, records)
    y = correctness(records, TWO_MODELS)
    beta = np.array([r.source == "beta" for r in records])

    with_beta = predict(fit_artifact(records, x, TWO_MODELS, "static", {}), x[beta])
    assert pair_apgr(with_beta[:, 1] - with_beta[:, 0], y[beta, 0], y[beta, 1]) > 0.6

    results = {r.source: r for r in leave_one_source_out(records, x, TWO_MODELS, "static")}
    held_out = results["beta"].routers
    assert held_out["predictor"].apgr < 0.4
    assert held_out["best model per category"].apgr < 0.5
    assert held_out["oracle"].apgr == pytest.approx(0.75)
