"""SpendGuard: external (overflow) spend against budgets per hour and per day.

Budgets, in the cost units of the fleet's prices: one for the whole deployment
(``router.external_budget``) and one per key (``auth.keys.<name>.external_budget``).
Spend is what each answer served by an external provider cost at that provider's prices,
recorded when the answer ends. A request may go to a provider while the spend of the last
hour and of the last day is under budget, for the deployment and for its key; a request
under way may take the spend past it (its cost is known only at its end). Each router
replica enforces its share of every budget (budget / router replicas), as the rate
limits do: no shared state on the request path.
"""

import threading
from collections.abc import Callable, Mapping

from router.model_config import Cost
from router.policy_config import SpendBudget
from serving.engine import Usage

HOUR_S, DAY_S = 3600.0, 86400.0
DEPLOYMENT = "(deployment)"  # the key label of the deployment's budget in the metrics
BUCKET_S = 60.0  # spend is kept per minute: a window is exact to the minute


class SpendWindow:
    """Spend per minute over the last day."""

    def __init__(self) -> None:
        self._buckets: dict[int, float] = {}

    def add(self, now: float, amount: float) -> None:
        minute = int(now // BUCKET_S)
        self._buckets[minute] = self._buckets.get(minute, 0.0) + amount
        oldest = minute - int(DAY_S // BUCKET_S)
        for old in [m for m in self._buckets if m <= oldest]:
            del self._buckets[old]

    def spent(self, now: float, seconds: float) -> float:
        since = int((now - seconds) // BUCKET_S)
        return sum(amount for minute, amount in self._buckets.items() if minute > since)


class SpendGuard:
    def __init__(
        self,
        prices: Mapping[str, Cost],
        deployment: SpendBudget,
        per_key: Mapping[str, SpendBudget],
        router_replicas: int,
        clock: Callable[[], float],
    ) -> None:
        """``prices``: the external providers' (spend is only what they served)."""
        self._prices, self._deployment, self._per_key = dict(prices), deployment, dict(per_key)
        self._share, self._clock = 1.0 / router_replicas, clock
        self._total = SpendWindow()
        self._by_key: dict[str, SpendWindow] = {}
        self._lock = threading.Lock()  # streams may end on other threads

    def set_key_budgets(self, per_key: Mapping[str, SpendBudget]) -> None:
        """New per-key budgets (a live policy change); what each key spent still counts."""
        with self._lock:
            self._per_key = dict(per_key)

    def allows(self, key: str | None) -> bool:
        """Whether a request of ``key`` (its name; None: unnamed) may go external now."""
        now = self._clock()
        with self._lock:
            if not self._within(self._deployment, self._total, now):
                return False
            budget = self._per_key.get(key) if key is not None else None
            window = self._by_key.get(key) if key is not None else None
            return budget is None or window is None or self._within(budget, window, now)

    def budgets(self) -> list[tuple[str, str, float]]:
        """(key name, or ``DEPLOYMENT``; ``hour`` or ``day``; the whole budget, over every
        router replica) of each budget set, for the metrics."""
        owners = [(DEPLOYMENT, self._deployment), *self._per_key.items()]
        return [(owner, window, limit)
                for owner, budget in owners
                for window, limit in (("hour", budget.per_hour), ("day", budget.per_day))
                if limit is not None]  # fmt: skip

    def charge(self, model_id: str, key: str | None, usage: Usage | None) -> float:
        """Record what an answer of ``model_id`` cost, if a provider served it; the cost."""
        price = self._prices.get(model_id)
        if price is None or usage is None:
            return 0.0
        amount = price.of(usage.prompt_tokens, usage.completion_tokens)
        if amount <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            self._total.add(now, amount)
            if key is not None:
                self._by_key.setdefault(key, SpendWindow()).add(now, amount)
        return amount

    def _within(self, budget: SpendBudget, window: SpendWindow, now: float) -> bool:
        for limit, seconds in ((budget.per_hour, HOUR_S), (budget.per_day, DAY_S)):
            if limit is not None and window.spent(now, seconds) >= limit * self._share:
                return False
        return True
