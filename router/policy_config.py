"""The routing-policy part of ``models.yaml``: the quality knob, the classifier, rules and
per-key policy. Typed and validated here; the pipeline receives these frozen objects."""

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from router.classifier.artifact import SHIPPED_ARTIFACT
from serving.config import ModelId, StrictModel

Share = Annotated[float, Field(ge=0.0, le=1.0)]
# A preset name (`economy`, ...) or directly the share of routed traffic for the large model.
Knob = str | Share


class PolicySettings(StrictModel):
    """The quality/cost trade-off. A knob is the share of routed traffic that goes to
    models better than the cheapest candidate; the predictor's calibration turns it into
    a quality tolerance, so `0.3` means "the 30 % of requests that need it most"."""

    presets: dict[str, Share] = Field(
        default_factory=lambda: {"economy": 0.2, "balanced": 0.5, "quality": 0.8}
    )
    default: Knob = "balanced"
    knob_header: str = Field("x-switchboard-quality", description="per-request override")
    local_only_header: str = Field("x-switchboard-local-only", description="`true`: stay local")

    @model_validator(mode="after")
    def _default_is_known(self) -> Self:
        check_knob(self.default, self, "router.policy.default")
        return self


def check_knob(knob: Knob, policy: PolicySettings, where: str) -> None:
    if isinstance(knob, str) and knob not in policy.presets:
        raise ValueError(
            f"{where}: unknown preset {knob!r} (presets: {', '.join(sorted(policy.presets))}) "
            "- or give a number between 0 and 1"
        )


class ClassifierSettings(StrictModel):
    artifact: Path = Field(SHIPPED_ARTIFACT, description="trained by `switchboard router train`")


# Scorer name -> weight. The runner sums weight x score (each clamped to [0, 1]); a cost
# weight under half the quality weight keeps "cheapest adequate model" (see
# router/routing/scorers/quality.py).
DEFAULT_SCORER_WEIGHTS: dict[str, float] = {"quality": 1.0, "cost": 0.4}


class HeaderCondition(StrictModel):
    name: str = Field(min_length=1)
    equals: str


class RuleCondition(StrictModel):
    """Every condition given must hold (AND)."""

    key_names: list[str] | None = None
    key_groups: list[str] | None = None
    header: HeaderCondition | None = None
    metadata: dict[str, str] | None = Field(None, description="request `metadata` entries")
    last_user_message_regex: str | None = None

    @field_validator("last_user_message_regex")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if not any(getattr(self, name) for name in type(self).model_fields):
            raise ValueError("a rule needs at least one non-empty condition under `when`")
        return self


class RuleAction(StrictModel):
    pin: ModelId | None = None
    restrict_to: list[ModelId] | None = Field(None, min_length=1)
    forbid_external: bool = False
    knob: Knob | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        acts = (self.pin, self.restrict_to, self.forbid_external, self.knob is not None)
        if not any(acts):
            raise ValueError("a rule needs at least one action under `then`")
        return self


class RoutingRule(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    when: RuleCondition
    then: RuleAction


class SpendBudget(StrictModel):
    """External (overflow) spend allowed, in the cost units of the fleet's prices; null:
    no limit. Enforced over the last hour and the last day (``router.load.spend``)."""

    per_hour: float | None = Field(None, gt=0)
    per_day: float | None = Field(None, gt=0)


class KeyPolicy(StrictModel):
    """What one API key (by its name in the key file or env) may do."""

    group: str | None = None
    allowed_models: list[ModelId] | None = Field(None, description="None: every model")
    allow_external: bool = True
    knob: Knob | None = None
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    sheddable: bool = Field(False, description="refused first when the fleet is busy")
    ttft_target_s: float | None = Field(
        None,
        gt=0,
        description="its requests overflow when the predicted time to first token on a"
        " local model exceeds this, in place of that model's own rule (null: the model's)",
    )
    external_budget: SpendBudget = SpendBudget()
    over_budget: Literal["wait", "refuse"] = Field(
        "wait",
        description="over its external budget (or the deployment's): wait for a local model"
        " past its saturation limits, or a fast 429 when local models are saturated",
    )
