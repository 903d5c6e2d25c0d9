"""The routing decision as a value: what serves, what else could, what could not and why."""

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from router.classifier.model import Estimate
from router.errors import ApiError

# pinned: the client named the model; rule: a rule pinned it; classifier: estimate +
# policy chose among several; only-candidate: one model was left after the filters.
RouteReason = Literal["pinned", "rule", "classifier", "only-candidate"]


@dataclass(frozen=True)
class Exclusion:
    model_id: str
    reason: str  # the filter's reason code
    error: ApiError = field(compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"model": self.model_id, "reason": self.reason, "detail": self.error.message}


@dataclass(frozen=True)
class RankedModel:
    model_id: str
    scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model_id, **{k: round(v, 4) for k, v in self.scores.items()}}


@dataclass(frozen=True)
class KnobChoice:
    large_share: float  # the share of routed traffic meant for the larger models
    source: str  # request-header, alias, rule:<name>, key, deployment
    threshold: float | None = None  # P(small suffices) below which larger models win


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

    def as_dict(self) -> dict[str, Any]:
        estimate = None
        if self.estimate is not None:
            estimate = {
                "category": self.estimate.category,
                "category_probability": round(self.estimate.category_probability, 4),
                "small_suffices": round(self.estimate.small_suffices, 4),
            }
        knob = None
        if self.knob is not None:
            knob = {"large_share": self.knob.large_share, "source": self.knob.source}
            threshold = self.knob.threshold
            # At share 0 or 1 the threshold is -inf/+inf, which JSON cannot carry.
            if threshold is not None and math.isfinite(threshold):
                knob["threshold"] = round(threshold, 4)
            else:
                knob["threshold"] = None
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
