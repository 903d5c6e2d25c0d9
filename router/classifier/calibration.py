"""The knob's calibration: a share of routed traffic for the better models -> the
quality tolerance that sends that share there, for one fleet.

A request goes to a model better (dearer) than the cheapest candidate when the cheapest
one's predicted quality falls more than the tolerance short of the best candidate's. On
the artifact's calibration prompts (held-out folds, never the fitted model's own
training data) each prompt's shortfall is computed for this fleet; the tolerance for a
share s is their (1 - s) quantile, so a share s of traffic like the calibration set's
leaves the cheapest model. The ends are exact: share 0 never leaves it, share 1 always
takes the best.
"""

import math
from collections.abc import Sequence

import numpy as np

from router.classifier.model import Candidate, QualityPredictor

_PERCENTILES = np.arange(101)


class KnobCalibration:
    def __init__(
        self, predictor: QualityPredictor, fleet: Sequence[Candidate], cheapest: Candidate
    ) -> None:
        abilities = [predictor.ability(c) for c in fleet]
        floor = predictor.ability(cheapest)
        shortfalls = [
            max(item.p_acceptable(a) for a in abilities) - item.p_acceptable(floor)
            for item in predictor.calibration_items()
        ]
        self._table = np.percentile(shortfalls or [0.0], _PERCENTILES)

    def tolerance(self, share: float) -> float:
        if share <= 0.0:
            return math.inf
        if share >= 1.0:
            return 0.0
        return float(np.interp(100.0 * (1.0 - share), _PERCENTILES, self._table))
