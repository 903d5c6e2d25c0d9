"""SpendGuard: spend per key and for the deployment, over the last hour and day."""

from router.load.spend import SpendGuard, SpendWindow
from router.model_config import Cost
from router.policy_config import SpendBudget
from serving.engine import Usage
from tests.clock import FakeClock

PRICE = Cost(input_per_mtok=1.0, output_per_mtok=3.0)
ANSWER = Usage(prompt_tokens=1000, completion_tokens=1000)  # 0.004 at PRICE


def test_a_window_forgets_spend_older_than_it_to_the_minute() -> None:
    window = SpendWindow()
    window.add(0.0, 1.0)
    window.add(1800.0, 2.0)
    assert window.spent(1800.0, 3600) == 3.0
    assert window.spent(3660.0, 3600) == 2.0  # the first minute is out of the hour
    assert window.spent(3660.0, 86400) == 3.0


def test_only_external_answers_are_charged_at_their_providers_prices() -> None:
    guard = SpendGuard({"external": PRICE}, SpendBudget(), {}, 1, FakeClock())
    assert guard.charge("external", "team", ANSWER) == 0.004
    assert guard.charge("smollm2-135m", "team", ANSWER) == 0.0  # local: not spend
    assert guard.charge("external", "team", None) == 0.0  # no usage: nothing known


def test_each_router_replica_enforces_its_share_of_a_budget() -> None:
    clock = FakeClock()
    budget = SpendBudget(per_hour=0.016)
    guard = SpendGuard({"external": PRICE}, SpendBudget(), {"team": budget}, 2, clock)
    guard.charge("external", "team", ANSWER)
    assert guard.allows("team")  # 0.004 of its 0.008
    guard.charge("external", "team", ANSWER)
    assert not guard.allows("team") and guard.allows("other") and guard.allows(None)


def test_new_key_budgets_count_what_the_key_already_spent() -> None:
    guard = SpendGuard({"external": PRICE}, SpendBudget(), {}, 1, FakeClock())
    guard.charge("external", "team", ANSWER)
    guard.charge("external", "team", ANSWER)
    assert guard.allows("team")  # no budget yet
    guard.set_key_budgets({"team": SpendBudget(per_day=0.008)})
    assert not guard.allows("team") and guard.allows("other")
    assert guard.budgets()[-1] == ("team", "day", 0.008)
    guard.set_key_budgets({})
    assert guard.allows("team")
