"""QualityScorer: whether this target's predicted quality is adequate for the request.

Inputs: the predictor's P(acceptable answer) for every candidate (``Estimate.quality``)
and the knob's tolerance. Formula: a target whose prediction is within the tolerance of
the best candidate's scores 1 (adequate); any other scores
``0.5 * p / (best - tolerance)``, below 0.5 and higher the closer it gets. Without an
estimate (a pinned model, a single candidate) every target scores 1.

Trade-off: with the cost weight below half the quality weight (models.yaml
``router.scorers``), every adequate target outranks every inadequate one, so the pick is
"the cheapest model whose predicted quality is within the tolerance of the best".
Inadequate targets follow for overflow and failover, by quality and cost together: a
much cheaper one may come before a slightly better one.
"""

from router.routing.facts import RequestFacts
from router.routing.stages import QualityView
from router.routing.targets import RouteTarget

INADEQUATE_CEILING = 0.5


class QualityScorer:
    name = "quality"

    def score(self, facts: RequestFacts, target: RouteTarget, quality: QualityView | None) -> float:
        if quality is None:
            return 1.0
        predicted = quality.estimate.quality
        bar = max(predicted.values()) - quality.tolerance
        mine = predicted[target.id]
        if mine >= bar:
            return 1.0
        return INADEQUATE_CEILING * mine / bar
