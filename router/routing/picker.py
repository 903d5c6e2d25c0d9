"""HighestTotalPicker: candidates by the runner's weighted total, best first.

It reads no scorer by name: what wins is what the scorers and their weights in
models.yaml say. Equal totals keep the fleet's order (models.yaml order), so a decision
is deterministic. The whole list is returned so that overflow and failover walk the same
decision.
"""

from collections.abc import Sequence

from router.routing.stages import ScoredTarget


class HighestTotalPicker:
    def rank(self, scored: Sequence[ScoredTarget]) -> list[ScoredTarget]:
        return sorted(scored, key=lambda s: -s.total)
