"""Held-out evaluation of a router, with RouteLLM's metrics (Ong et al. 2024,
arXiv 2406.18665; ``routellm/evals/evaluate.py``).

A router ranks prompts by how much they need the large (strong) model; sending the top
share ``s`` of that ranking to the large model and the rest to the small (weak) one gives
quality(s) = mean over prompts of (large_correct if routed large else small_correct).

- PGR(s) = (quality(s) - quality(0)) / (quality(1) - quality(0)): the share of the gap
  between always-small and always-large that the router recovers.
- APGR = integral of PGR(s) over s in [0, 1]: the area under the PGR curve, taken exactly
  (trapezoids over the n + 1 evenly spaced shares k / n, where n is the prompt count).
- CPT(x) = the smallest share s with PGR(s) >= x, linear between curve points.

Prompts that a router scores equally cannot be told apart by any threshold; the curve
takes the expected quality over the order among them, i.e. is linear across each run of
ties. So a random router (all scores equal) is exactly the chord from always-small to
always-large: APGR 0.5, CPT(x) = x.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

CPT_TARGETS = (0.5, 0.8)

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Curve:
    """Quality against the share of calls sent to the large model, at shares k / n."""

    shares: Floats
    quality: Floats

    @property
    def always_small(self) -> float:
        return float(self.quality[0])

    @property
    def always_large(self) -> float:
        return float(self.quality[-1])

    def pgr(self) -> Floats:
        """PGR at every point; NaN throughout when both models score the same."""
        gap = self.always_large - self.always_small
        if gap == 0:
            return np.full_like(self.quality, np.nan)
        return (self.quality - self.always_small) / gap


@dataclass(frozen=True)
class RouterResult:
    curve: Curve
    apgr: float
    cpt: dict[float, float]  # PGR target -> smallest share to large that reaches it


def routing_curve(
    need_large: ArrayLike, small_correct: ArrayLike, large_correct: ArrayLike
) -> Curve:
    """The exact curve of a router that sends the highest ``need_large`` scores to the
    large model first: quality(k / n) = mean(small) + (sum of large - small over the first
    k prompts) / n, with the sum made linear across runs of tied scores."""
    scores = np.asarray(need_large, dtype=np.float64)
    small = np.asarray(small_correct, dtype=np.float64)
    gain = np.asarray(large_correct, dtype=np.float64) - small
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    gained = np.concatenate([[0.0], np.cumsum(gain[order])])
    n = len(scores)
    # Positions where a threshold can fall: the ends and every change of score.
    cuts = np.flatnonzero(np.concatenate([[True], ranked[1:] != ranked[:-1], [True]]))
    expected = np.interp(np.arange(n + 1), cuts, gained[cuts])
    return Curve(shares=np.arange(n + 1) / n, quality=small.mean() + expected / n)


def apgr(curve: Curve) -> float:
    """Area under PGR(s) for s in [0, 1] (trapezoids over the curve's points)."""
    return float(np.trapezoid(curve.pgr(), curve.shares))


def cpt(curve: Curve, target: float) -> float:
    """Smallest share to large with PGR >= ``target``, interpolated linearly within the
    segment where the curve first reaches it; NaN when it never does."""
    pgr = curve.pgr()
    reached = np.flatnonzero(pgr >= target)
    if len(reached) == 0:
        return float("nan")
    i = int(reached[0])
    if i == 0:
        return 0.0
    fraction = (target - pgr[i - 1]) / (pgr[i] - pgr[i - 1])
    return float(curve.shares[i - 1] + fraction * (curve.shares[i] - curve.shares[i - 1]))


def router_result(curve: Curve) -> RouterResult:
    return RouterResult(curve=curve, apgr=apgr(curve), cpt={t: cpt(curve, t) for t in CPT_TARGETS})


def compare_routers(
    need_large: Mapping[str, ArrayLike], small_correct: ArrayLike, large_correct: ArrayLike
) -> dict[str, RouterResult]:
    return {
        name: router_result(routing_curve(scores, small_correct, large_correct))
        for name, scores in need_large.items()
    }


def pair_apgr(need_large: ArrayLike, small_correct: ArrayLike, large_correct: ArrayLike) -> float:
    """APGR of one ranking between a small and a large model; NaN when they tie."""
    return apgr(routing_curve(need_large, small_correct, large_correct))
