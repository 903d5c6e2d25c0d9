"""TtftMargin: how far to scale a predicted TTFT so that a target holds for a share of
requests.

A TTFT target is an SLO on the tail: it must hold for a share q of requests
(``saturation.ttft_quantile``, 0.95), not for each one. The saturation rule compares the
expected TTFT times this margin with the target. After each request judged against a
target, the margin moves in log scale: up by ``STEP * q`` when it missed the target, down
by ``STEP * (1 - q)`` when it met it. A request the rule sent elsewhere counts as met:
the SLO is over all requests, and the provider it overflows to answers within the target
(a provider that does not is the wrong overflow target). The margin settles where a share
1 - q of all requests miss (a Robbins-Monro estimate), which is the least overflow that
holds the quantile: too small a margin lets misses through and grows; too large a one
overflows requests that would have met the target and shrinks with each. Scaling each
prediction by a quantile of its own error instead would hold every request to the tail,
which overflows far more than the SLO asks: requests predicted well within the target
leave room for some near it. Counting overflows also keeps a high margin from sticking
once load falls, when few requests stay local to teach it.
"""

import math

STEP = 0.1  # a miss at q 0.95 raises the margin ~10 %; ~20 requests in target undo it
BOUNDS = (0.5, 4.0)  # a run of wild misses must not make the rule all-or-nothing


class TtftMargin:
    def __init__(self, quantile: float = 0.95) -> None:
        """``quantile``: the share of requests the target holds for."""
        self._quantile = quantile
        self.value = 1.0

    def observe(self, met: bool) -> None:
        """One request judged by the target: whether it met it."""
        step = STEP * (self._quantile - 1.0 if met else self._quantile)
        self.value = min(max(self.value * math.exp(step), BOUNDS[0]), BOUNDS[1])
