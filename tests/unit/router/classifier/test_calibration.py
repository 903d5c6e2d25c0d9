"""KnobCalibration: a share of traffic for the models above the cheapest -> the quality
tolerance that sends that share there, on the artifact's calibration items."""

import itertools
import math

import numpy as np
import pytest

from router.classifier.calibration import KnobCalibration
from router.classifier.model import Candidate, QualityPredictor
from tests.predictors import artifact, static_encoder
from tests.unit.router.routing.conftest import EXTERNAL, QWEN, SMOL

FLEET = [Candidate(SMOL, 1), Candidate(QWEN, 2), Candidate(EXTERNAL, 5)]
SHARES = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def predictor(items: int = 2000, seed: int = 0) -> QualityPredictor:
    rng = np.random.default_rng(seed)
    calibration = np.stack([rng.normal(0.0, 1.5, items), rng.normal(0.5, 1.5, items)], axis=1)
    return QualityPredictor(artifact(calibration=calibration), static_encoder())


def shortfalls(
    quality: QualityPredictor, fleet: list[Candidate], cheapest: Candidate
) -> list[float]:
    estimates = [quality.estimate_item(item, fleet).quality for item in quality.calibration_items()]
    return [max(e.values()) - e[cheapest.model_id] for e in estimates]


def test_the_ends_are_exact() -> None:
    calibration = KnobCalibration(predictor(), FLEET, FLEET[0])
    assert calibration.tolerance(0.0) == math.inf
    assert calibration.tolerance(1.0) == 0.0


def test_a_larger_share_means_a_smaller_tolerance() -> None:
    calibration = KnobCalibration(predictor(), FLEET, FLEET[0])
    tolerances = [calibration.tolerance(s) for s in SHARES]
    assert all(a > b for a, b in itertools.pairwise(tolerances))
    assert all(0.0 < t < 1.0 for t in tolerances)


@pytest.mark.parametrize("cheapest", [0, 1])
def test_the_realised_share_on_the_calibration_items_is_the_asked_share(cheapest: int) -> None:
    quality = predictor(seed=cheapest)
    floor = FLEET[cheapest]
    calibration = KnobCalibration(quality, FLEET, floor)
    gaps = np.array(shortfalls(quality, FLEET, floor))
    for share in SHARES:
        leaving = float(np.mean(gaps > calibration.tolerance(share)))
        assert leaving == pytest.approx(share, abs=0.03), share
    assert float(np.mean(gaps > calibration.tolerance(0.0))) == 0.0
    assert float(np.mean(gaps > calibration.tolerance(1.0))) == 1.0  # every gap is > 0


def test_the_tolerance_depends_on_the_fleet() -> None:
    quality = predictor()
    wide = KnobCalibration(quality, FLEET, FLEET[0])
    narrow = KnobCalibration(quality, FLEET[:2], FLEET[0])  # Qwen is the best there
    # The cheapest model falls further short of the provider than of Qwen.
    assert wide.tolerance(0.5) > narrow.tolerance(0.5) > 0.0


def test_a_fleet_of_one_model_never_leaves_it() -> None:
    calibration = KnobCalibration(predictor(), FLEET[:1], FLEET[0])
    assert calibration.tolerance(0.5) == 0.0  # no shortfall to exceed
