"""QualityScorer: the chance that this target's answer is as good as the best one's.

Inputs: the classifier's P(small suffices) and the target's ``quality_tier``. Formula:
targets up to ``router.classifier.small_max_tier`` score P(small suffices); larger ones
score 1 (the classifier was trained on a small-vs-large pair and says nothing finer).
Without an estimate (a single candidate, a pinned model) every target scores 1.
Trade-off: two quality classes only, but calibrated ones.
"""

from router.classifier.model import Estimate
from router.routing.facts import RequestFacts
from router.routing.targets import RouteTarget


class QualityScorer:
    name = "quality"

    def __init__(self, small_max_tier: int) -> None:
        self._small_max_tier = small_max_tier

    def score(self, facts: RequestFacts, target: RouteTarget, estimate: Estimate | None) -> float:
        if estimate is None or target.quality_tier > self._small_max_tier:
            return 1.0
        return estimate.small_suffices
