"""Scorers: each maps (request, target, quality view) to a number in [0, 1], higher is
better. A new scorer is a module here plus its name in ``SCORERS`` and a weight under
``router.scorers`` in models.yaml."""

from collections.abc import Callable, Sequence

from router.routing.scorers.cost import CostScorer
from router.routing.scorers.quality import QualityScorer
from router.routing.stages import Scorer
from router.routing.targets import RouteTarget

# name -> how to build it for a fleet
SCORERS: dict[str, Callable[[Sequence[RouteTarget]], Scorer]] = {
    QualityScorer.name: lambda fleet: QualityScorer(),
    CostScorer.name: CostScorer,
}
