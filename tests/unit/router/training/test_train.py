"""The joint fit on synthetic labels where the large model gains only on code prompts."""

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from router.classifier.artifact import PredictorArtifact
from router.classifier.encoders import PromptEncoder
from router.classifier.model import Candidate, QualityPredictor
from router.training.labels import LabelledPrompt
from router.training.train import (
    CV_FOLDS,
    L2_GRID,
    Fit,
    correctness,
    embed_records,
    fit,
    fit_artifact,
    p_from_items,
    predict,
    source_provenance,
)
from tests.unit.router.synthetic_labels import (
    LARGE,
    MIDDLE,
    SMALL,
    THREE_MODELS,
    TWO_MODELS,
    is_code,
    synthetic_records,
)

PROVENANCE = {"labels_sha256": "0" * 64, "label_hours": 1.5}


@pytest.fixture(scope="module")
def artifact(records: list[LabelledPrompt], x: NDArray[np.float32]) -> PredictorArtifact:
    """Fitted with the real cross-validation grid."""
    return fit_artifact(records, x, TWO_MODELS, "static", PROVENANCE)


def _code_mask(records: list[LabelledPrompt]) -> NDArray[np.bool_]:
    return np.array([is_code(r) for r in records])


def test_correctness_has_one_column_per_model_and_nan_where_unanswered(
    records: list[LabelledPrompt],
) -> None:
    y = correctness(records, TWO_MODELS)
    code = _code_mask(records)
    assert y.shape == (len(records), 2)
    np.testing.assert_array_equal(y[:, 0], (~code).astype(float))  # small: general only
    np.testing.assert_array_equal(y[:, 1], np.ones(len(records)))  # large: everything
    y3 = correctness(records, THREE_MODELS)  # no record has the middle model's answer
    assert np.isnan(y3[:, 1]).all() and not np.isnan(y3[:, [0, 2]]).any()


def test_embed_records_keeps_the_records_order(
    encoder: PromptEncoder, records: list[LabelledPrompt], x: NDArray[np.float32]
) -> None:
    # Batches are formed by length; the rows must still follow the records.
    assert x.shape == (len(records), encoder.dimensions)
    picked = [records[i] for i in (5, 70, 140)]
    np.testing.assert_allclose(embed_records(encoder, picked), x[[5, 70, 140]], atol=1e-6)


def test_fit_learns_where_the_large_model_gains(
    records: list[LabelledPrompt], x: NDArray[np.float32]
) -> None:
    fitted = fit(x, correctness(records, TWO_MODELS), 1e-3)
    np.testing.assert_array_equal(fitted.abilities, [0.0, 1.0])  # the anchors
    p = fitted.p_correct(x)
    gain = p[:, 1] - p[:, 0]
    code = _code_mask(records)
    assert gain[code].mean() > gain[~code].mean() + 0.5
    assert (gain >= 0).all()  # a stronger model is never predicted worse
    np.testing.assert_allclose(p_from_items(fitted.items(x), fitted.abilities), p)


def test_fitting_is_deterministic(records: list[LabelledPrompt], x: NDArray[np.float32]) -> None:
    y = correctness(records, TWO_MODELS)
    first, second = fit(x, y, 1e-2), fit(x, y, 1e-2)
    np.testing.assert_array_equal(first.slope_weights, second.slope_weights)
    np.testing.assert_array_equal(first.difficulty_weights, second.difficulty_weights)
    assert (first.slope_bias, first.difficulty_bias) == (second.slope_bias, second.difficulty_bias)


def test_a_middle_model_gets_a_middle_ability(encoder: PromptEncoder) -> None:
    """It answers every general prompt and half the code ones (accuracy 0.75, between the
    small model's 0.5 and the large one's 1): its free ability lands between the anchors
    and its predicted accuracy near its real one."""
    records = synthetic_records(middle=True)
    x = embed_records(encoder, records)
    y = correctness(records, THREE_MODELS)
    fitted = fit(x, y, L2_GRID[0])
    small, middle, large = fitted.abilities
    assert (small, large) == (0.0, 1.0)
    assert 0.0 < middle < 1.0
    p = fitted.p_correct(x)
    np.testing.assert_allclose(p.mean(axis=0), y.mean(axis=0), atol=0.05)
    assert (p[:, 0] <= p[:, 1]).all() and (p[:, 1] <= p[:, 2]).all()


def test_fit_artifact_describes_the_labelled_models(artifact: PredictorArtifact) -> None:
    assert artifact.encoder == "static"
    assert artifact.models == (SMALL, LARGE)
    np.testing.assert_array_equal(artifact.abilities, [0.0, 1.0])
    np.testing.assert_array_equal(artifact.tiers, [1.0, 2.0])
    assert {k: v for k, v in artifact.provenance.items() if k != "cross_validation"} == PROVENANCE


def test_cross_validation_picks_the_best_l2_of_the_grid(
    artifact: PredictorArtifact, records: list[LabelledPrompt], x: NDArray[np.float32]
) -> None:
    cv = artifact.provenance["cross_validation"]
    assert cv["folds"] == CV_FOLDS
    assert cv["l2"] in L2_GRID
    scores = {float(k): v for k, v in cv["apgr_by_l2"].items()}
    assert set(scores) == set(L2_GRID)
    assert scores[cv["l2"]] == max(scores.values())
    assert scores[cv["l2"]] > 0.6  # the gains are learnable across tasks
    # The artifact is the fit on every record at the chosen strength.
    refit = fit(x, correctness(records, TWO_MODELS), cv["l2"])
    np.testing.assert_allclose(artifact.slope_weights, refit.slope_weights, rtol=1e-5, atol=1e-6)
    assert artifact.difficulty_bias == pytest.approx(refit.difficulty_bias)


def test_calibration_is_out_of_fold_one_row_per_record(
    artifact: PredictorArtifact, records: list[LabelledPrompt], x: NDArray[np.float32]
) -> None:
    assert artifact.calibration.shape == (len(records), 2)
    assert artifact.calibration.dtype == np.float32
    in_sample = _fit_of(artifact).items(x)
    assert not np.allclose(artifact.calibration, in_sample, atol=1e-3)
    # Predicted on tasks held out of each fold, every code prompt still ranks above every
    # general one: the ranking generalises to unseen tasks.
    p = p_from_items(artifact.calibration.astype(np.float64), artifact.abilities)
    gain = p[:, 1] - p[:, 0]
    code = _code_mask(records)
    assert gain[code].min() > gain[~code].max()


def test_artifact_round_trip_predicts_the_same(
    artifact: PredictorArtifact,
    encoder: PromptEncoder,
    x: NDArray[np.float32],
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "classifier.npz"
    artifact.save(path)
    loaded = PredictorArtifact.load(path)
    np.testing.assert_array_equal(predict(loaded, x), predict(artifact, x))
    np.testing.assert_array_equal(loaded.calibration, artifact.calibration)
    assert loaded.models == artifact.models
    assert loaded.encoder == artifact.encoder
    np.testing.assert_array_equal(loaded.tiers, artifact.tiers)
    assert loaded.provenance == artifact.provenance
    fleet = [Candidate(SMALL, 1), Candidate(LARGE, 2), Candidate(MIDDLE, 3)]
    text = "Write a Python function that returns the sum of a list."
    assert QualityPredictor(loaded, encoder).estimate(text, fleet) == QualityPredictor(
        artifact, encoder
    ).estimate(text, fleet)


def test_predict_matches_the_runtime_predictor(
    artifact: PredictorArtifact, encoder: PromptEncoder, x: NDArray[np.float32]
) -> None:
    predictor = QualityPredictor(artifact, encoder)
    p = predict(artifact, x[:3])
    for row in range(3):
        estimate = predictor.estimate_item(
            predictor.item(x[row]), [Candidate(SMALL, 1), Candidate(LARGE, 2)]
        )
        assert estimate.quality[SMALL] == pytest.approx(p[row, 0], abs=1e-5)
        assert estimate.quality[LARGE] == pytest.approx(p[row, 1], abs=1e-5)


def test_source_provenance_identifies_the_labels(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl.gz"
    labels.write_bytes(b"one")
    first = source_provenance(labels, TWO_MODELS, "static")
    labels.write_bytes(b"two")
    second = source_provenance(labels, TWO_MODELS, "static")
    assert first["labels_sha256"] != second["labels_sha256"]
    assert len(first["labels_sha256"]) == 64
    assert first["models"] == {SMALL: 1, LARGE: 2}
    assert first["encoder"].startswith("static over all-MiniLM-L6-v2")


def _fit_of(artifact: PredictorArtifact) -> Fit:
    return Fit(
        artifact.slope_weights.astype(np.float64),
        artifact.slope_bias,
        artifact.difficulty_weights.astype(np.float64),
        artifact.difficulty_bias,
        artifact.abilities,
    )
