"""CostScorer: how cheap this request would be on this target, against the dearest model
in the fleet: 1 - price / dearest price, so the cheapest scores highest.

Inputs: the exact prompt token count where known (else the largest known count), the
completion budget (``max_tokens``, else ``EXPECTED_COMPLETION_TOKENS``) and the
target's ``cost`` per million input/output tokens. Trade-off: the completion length is a
budget, not a forecast; the ordering it gives is what matters.
"""

from collections.abc import Sequence

from router.routing.facts import RequestFacts
from router.routing.stages import QualityView
from router.routing.targets import RouteTarget

EXPECTED_COMPLETION_TOKENS = 256


class CostScorer:
    name = "cost"

    def __init__(self, fleet: Sequence[RouteTarget]) -> None:
        self._fleet = tuple(fleet)

    def score(self, facts: RequestFacts, target: RouteTarget, quality: QualityView | None) -> float:
        dearest = max(self._price(facts, t) for t in self._fleet)
        return 1.0 - self._price(facts, target) / dearest if dearest > 0 else 1.0

    def _price(self, facts: RequestFacts, target: RouteTarget) -> float:
        known = [c for c in facts.prompt_tokens.values() if isinstance(c, int)]
        count = facts.prompt_tokens.get(target.id)
        prompt = count if isinstance(count, int) else max(known, default=0)
        completion = facts.max_tokens or EXPECTED_COMPLETION_TOKENS
        return prompt * target.cost.input_per_mtok + completion * target.cost.output_per_mtok
