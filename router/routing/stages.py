"""The three narrow stage interfaces of the routing pipeline (llm-d's filter -> scorer
-> picker). Each is synchronous and I/O-free; the runner owns order and combination."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from router.classifier.model import Estimate
from router.errors import ApiError
from router.routing.facts import RequestFacts
from router.routing.targets import RouteTarget


class TargetFilter(Protocol):
    """A capability constraint. Always runs, never fails open."""

    reason: str  # the reason code in decisions and logs

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> ApiError | None:
        """The error this target alone would give the client, or None if it may serve."""
        ...


class Scorer(Protocol):
    name: str

    def score(self, facts: RequestFacts, target: RouteTarget, estimate: Estimate | None) -> float:
        """A score in [0, 1]; what it means is the scorer's docstring."""
        ...


@dataclass(frozen=True)
class ScoredTarget:
    target: RouteTarget
    scores: dict[str, float]


class Picker(Protocol):
    def rank(self, scored: Sequence[ScoredTarget], threshold: float) -> list[ScoredTarget]:
        """Every candidate, best first: failover and overflow walk this list."""
        ...
