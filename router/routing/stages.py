"""The narrow stage interfaces of the routing pipeline (llm-d's filter -> scorer ->
picker). Each is synchronous and I/O-free; the runner owns order, clamping and weights.
A stage says why it refuses in routing's terms (a ``Refusal``); the edge alone turns
that into the client's HTTP error."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from router.classifier.model import Estimate
from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class TargetFilter(Protocol):
    """A capability constraint. Always runs, never fails open."""

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        """Why this target alone may not serve (the refusal's ``reason`` is this filter's
        reason code, shown in decisions and logs), or None if it may. When every target
        is excluded, the client hears the refusal of the one that got furthest."""
        ...


@dataclass(frozen=True)
class QualityView:
    """What the predictor and the knob say about this request's candidates."""

    estimate: Estimate
    tolerance: float  # how far below the best predicted quality still counts as adequate


class Scorer(Protocol):
    name: str  # its weight's key under ``router.scorers`` in models.yaml

    def score(self, facts: RequestFacts, target: RouteTarget, quality: QualityView | None) -> float:
        """A score in [0, 1], higher is better; what it means is the scorer's docstring.
        ``quality`` is None when the request is not routed among several candidates."""
        ...


@dataclass(frozen=True)
class ScoredTarget:
    target: RouteTarget
    scores: dict[str, float]  # scorer name -> its clamped score
    total: float  # the weighted sum the picker ranks by


class Picker(Protocol):
    def rank(self, scored: Sequence[ScoredTarget]) -> list[ScoredTarget]:
        """Every candidate, best first: failover and overflow walk this list."""
        ...
