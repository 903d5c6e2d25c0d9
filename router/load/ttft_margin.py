"""TtftMargin: how far to scale a predicted TTFT so that a target holds for a share of
requests.

A TTFT target is an SLO on the tail: it must hold for a share q of requests
(``saturation.ttft_quantile``, 0.95), not for each one. The saturation rule compares the
expected TTFT times this margin with the target. After each local request judged against
a target, the margin moves in log scale: up by ``STEP * q`` when its TTFT missed the
target, down by ``STEP * (1 - q)`` when it met it. It settles where a share 1 - q of local
requests miss (a Robbins-Monro estimate): too small a margin lets misses through and
grows; too large a one overflows requests that would have met the target, the rest meet
it, and it shrinks. Scaling each prediction by a quantile of its own error instead would
hold every request to the tail, which overflows far more than the SLO asks: requests
predicted well within the target leave room for some near it.
"""

import math

STEP = 0.1  # a miss at q 0.95 raises the margin ~10 %; ~20 requests in target undo it
BOUNDS = (0.5, 4.0)  # a run of wild misses must not make the rule all-or-nothing


class TtftMargin:
    def __init__(self, quantile: float = 0.95) -> None:
        """``quantile``: the share of requests the target holds for."""
        self._quantile = quantile
        self.value = 1.0

    def observe(self, measured_s: float, target_s: float) -> None:
        missed = measured_s > target_s
        step = STEP * (self._quantile if missed else self._quantile - 1.0)
        self.value = min(max(self.value * math.exp(step), BOUNDS[0]), BOUNDS[1])
