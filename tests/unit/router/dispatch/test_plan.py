"""The overflow policy as a value: the plan for a decision and a key, without engines."""

from router.dispatch.plan import SHEDDABLE_HEADROOM, Attempt, plan_dispatch
from router.policy_config import KeyPolicy
from router.routing.decision import Decision, RankedModel

SMOL, QWEN, PROVIDER = "smollm2-135m", "qwen2.5-0.5b", "external"
EXTERNAL = frozenset({PROVIDER})


def decision(*ranked_ids: str) -> Decision:
    ranked = tuple(RankedModel(m, {}, 1.0) for m in ranked_ids)
    return Decision(ranked[0].model_id, "classifier", ranked, (), None, None, (), 0.1)


class Budget:
    """``within_budget`` that counts how often it was asked."""

    def __init__(self, answer: bool) -> None:
        self.answer, self.asked = answer, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.answer


def within(answer: bool) -> Budget:
    return Budget(answer)


def test_the_ranking_is_walked_as_the_picker_left_it() -> None:
    plan = plan_dispatch(decision(PROVIDER, SMOL, QWEN), KeyPolicy(), EXTERNAL, within(True))
    assert plan.chosen == PROVIDER and plan.unpaid == ()
    assert plan.attempts == (Attempt(PROVIDER, True), Attempt(SMOL, False), Attempt(QWEN, False))


def test_a_sheddable_key_never_pays_and_stops_at_half_the_limits() -> None:
    budget = within(True)
    plan = plan_dispatch(decision(SMOL, PROVIDER), KeyPolicy(sheddable=True), EXTERNAL, budget)
    assert plan.attempts == (Attempt(SMOL, False, headroom=SHEDDABLE_HEADROOM),)
    assert budget.asked == 0  # no provider in play: the spend guard is not asked


def test_over_budget_a_waiting_key_goes_to_its_first_local_model_past_its_limits() -> None:
    waits = KeyPolicy(over_budget="wait", ttft_target_s=2.0)
    plan = plan_dispatch(decision(PROVIDER, QWEN, SMOL), waits, EXTERNAL, within(False))
    assert plan.unpaid == (PROVIDER,)
    assert [(a.model_id, a.past_limits) for a in plan.attempts] == [
        (QWEN, False),
        (SMOL, False),
        (QWEN, True),
    ]
    # The key's TTFT target travels with each local attempt.
    assert {a.ttft_target_s for a in plan.attempts} == {2.0}


def test_over_budget_a_refusing_key_only_tries_the_local_models_within_limits() -> None:
    refuses = KeyPolicy(over_budget="refuse")
    plan = plan_dispatch(decision(SMOL, PROVIDER), refuses, EXTERNAL, within(False))
    assert plan.attempts == (Attempt(SMOL, False),) and plan.unpaid == (PROVIDER,)
