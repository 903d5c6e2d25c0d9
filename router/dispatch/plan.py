"""The overflow policy as a value: for one routing decision and the caller's key, which
models to try, in which order, and on what terms. The dispatcher only walks the plan.

Order: the decision's ranking as the picker left it (its choice first; its scorers
already weigh cost and quality, so no second ranking here). A ``sheddable`` key's
requests go first when the fleet is busy: a local model counts as saturated for them at
``SHEDDABLE_HEADROOM`` of its limits, and they never overflow to a paid provider. Over
the deployment's or the key's external spend budget no provider is tried, and a key
that waits (``over_budget: wait``) is sent last to its first local model past that
model's saturation limits (Ray Serve's bounded queue still applies). A key's
``ttft_target_s`` replaces each local model's own TTFT rule for its requests.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass

from router.policy_config import KeyPolicy
from router.routing.decision import Decision

SHEDDABLE_HEADROOM = 0.5  # share of a local model's queue limit and TTFT target


@dataclass(frozen=True)
class Attempt:
    model_id: str
    external: bool
    headroom: float = 1.0  # scales the local model's saturation limits for this request
    ttft_target_s: float | None = None  # the key's target, in place of the model's rule
    past_limits: bool = False  # sent even when saturated (its queue may still refuse)


@dataclass(frozen=True)
class DispatchPlan:
    chosen: str  # the decision's choice: the overflow metric's "from"
    attempts: tuple[Attempt, ...]
    unpaid: tuple[str, ...] = ()  # external providers left out: the spend budget is spent


def plan_dispatch(
    decision: Decision,
    policy: KeyPolicy,
    external: Collection[str],
    within_budget: Callable[[], bool],
) -> DispatchPlan:
    """``external``: the external providers' ids; ``within_budget``: whether the
    deployment and the key may still spend (asked only when a provider is in play)."""
    ranked = [r.model_id for r in decision.ranked]
    local = [m for m in ranked if m not in external]
    paid = [] if policy.sheddable else [m for m in ranked if m in external]
    over_budget = bool(paid) and not within_budget()
    headroom = SHEDDABLE_HEADROOM if policy.sheddable else 1.0

    def local_attempt(model_id: str, past_limits: bool = False) -> Attempt:
        return Attempt(model_id, False, headroom, policy.ttft_target_s, past_limits)

    attempts = [
        local_attempt(m) if m not in external else Attempt(m, True)
        for m in ranked
        if m not in external or (m in paid and not over_budget)
    ]
    if over_budget and policy.over_budget == "wait" and local:
        attempts.append(local_attempt(local[0], past_limits=True))
    return DispatchPlan(ranked[0], tuple(attempts), tuple(paid) if over_budget else ())
