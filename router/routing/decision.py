"""The routing decision as a value: what serves, what else could, what could not and why."""

import math
from dataclasses import dataclass
from typing import Any, Literal

from router.classifier.model import Estimate
from router.routing.refusal import Refusal

# pinned: the client named the model; rule: a rule pinned it; classifier: estimate +
# policy chose among several; only-candidate: one model was left after the filters.
RouteReason = Literal["pinned", "rule", "classifier", "only-candidate"]


@dataclass(frozen=True)
class Exclusion:
    model_id: str
    refusal: Refusal  # from the first filter that excluded it

    def as_dict(self) -> dict[str, str]:
        refusal = self.refusal
        return {"model": self.model_id, "reason": refusal.reason, "detail": refusal.message}


@dataclass(frozen=True)
class RankedModel:
    model_id: str
    scores: dict[str, float]
    total: float

    def as_dict(self) -> dict[str, Any]:
        scores = {k: round(v, 4) for k, v in self.scores.items()}
        return {"model": self.model_id, **scores, "total": round(self.total, 4)}


@dataclass(frozen=True)
class KnobChoice:
    large_share: float  # the share of routed traffic meant for models above the cheapest
    source: str  # request-header, alias, rule:<name>, key, deployment
    # How far below the best candidate's predicted quality still counts as adequate.
    tolerance: float = 0.0


@dataclass(frozen=True)
class Decision:
    model_id: str
    route: RouteReason
    ranked: tuple[RankedModel, ...]
    excluded: tuple[Exclusion, ...]
    estimate: Estimate | None
    knob: KnobChoice | None
    rules: tuple[str, ...]
    decision_ms: float
    prompt_tokens: int | None = None  # the chosen model's exact count, when counted
    completion_budget: int | None = None  # tokens each choice may generate there, if bounded

    def as_dict(self) -> dict[str, Any]:
        estimate = None
        if self.estimate is not None:
            estimate = {
                "quality": {m: round(p, 4) for m, p in self.estimate.quality.items()},
                "prior": list(self.estimate.prior),  # estimated from the tier: no labels
            }
        knob = None
        if self.knob is not None:
            tolerance = self.knob.tolerance
            knob = {
                "large_share": self.knob.large_share,
                "source": self.knob.source,
                # At share 0 the tolerance is infinite, which JSON cannot carry.
                "tolerance": round(tolerance, 4) if math.isfinite(tolerance) else None,
            }
        return {
            "model": self.model_id,
            "route": self.route,
            "ranked": [r.as_dict() for r in self.ranked],
            "excluded": [e.as_dict() for e in self.excluded],
            "estimate": estimate,
            "knob": knob,
            "rules": list(self.rules),
            "decision_ms": round(self.decision_ms, 3),
        }
