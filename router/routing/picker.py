"""CheapestAdequatePicker: among targets good enough for this request, the cheapest.

A target is adequate when its quality score reaches the policy's threshold. Adequate
targets come first, cheapest first; the rest follow by quality, then cost. The whole
list is returned so that overflow and failover walk the same decision.
"""

from collections.abc import Sequence

from router.routing.stages import ScoredTarget


class CheapestAdequatePicker:
    def rank(self, scored: Sequence[ScoredTarget], threshold: float) -> list[ScoredTarget]:
        adequate = [s for s in scored if s.scores["quality"] >= threshold]
        others = [s for s in scored if s.scores["quality"] < threshold]
        adequate.sort(key=lambda s: (s.scores["cost"], -s.scores["quality"]))
        others.sort(key=lambda s: (-s.scores["quality"], s.scores["cost"]))
        return adequate + others
