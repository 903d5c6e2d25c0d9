"""Per-key rate limits: requests and tokens per minute (``auth.keys.<name>``), as token
buckets on an injected clock.

With several router replicas each enforces ``limit / router.num_replicas``: Ray Serve
spreads requests over the router replicas, so the split approximates the global limit
without a shared store (a key whose traffic lands unevenly may be refused a little early,
never let through much above its limit). Tokens are counted at admission: the exact
prompt tokens of the chosen model plus the completion budget (``max_tokens``, else
``EXPECTED_COMPLETION_TOKENS``).
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from router.auth import Caller
from router.errors import RateLimited

EXPECTED_COMPLETION_TOKENS = 256


@dataclass
class _Bucket:
    capacity: float
    level: float
    updated: float

    def refill(self, now: float) -> None:
        rate = self.capacity / 60.0
        self.level = min(self.capacity, self.level + (now - self.updated) * rate)
        self.updated = now

    def wait_s(self, amount: float) -> float:
        """Seconds until ``amount`` fits (0: now). An amount over the whole capacity is
        let through once the bucket is full, and paid back before anything else fits."""
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing / (self.capacity / 60.0)


class RateLimiter:
    def __init__(self, router_replicas: int, clock: Callable[[], float]) -> None:
        self._share, self._clock = 1.0 / router_replicas, clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def admit(self, caller: Caller, tokens: int) -> Callable[[], None]:
        """Take one request and ``tokens`` from the key's budgets, or raise 429. Returns
        the refund to call if the request is then refused (nothing was served)."""
        if caller.name is None:
            return _nothing
        policy, now = caller.policy, self._clock()
        wanted: list[tuple[_Bucket, float]] = []
        if policy.requests_per_minute is not None:
            limit = policy.requests_per_minute
            wanted.append((self._bucket(caller.name, "requests", limit, now), 1.0))
        if policy.tokens_per_minute is not None:
            limit = policy.tokens_per_minute
            wanted.append((self._bucket(caller.name, "tokens", limit, now), float(tokens)))
        wait = max((bucket.wait_s(amount) for bucket, amount in wanted), default=0.0)
        if wait > 0:
            raise RateLimited(
                f"Rate limit of key {caller.name!r} reached; retry in {wait:.1f} s.",
                retry_after_s=max(1, math.ceil(wait)),
            )
        for bucket, amount in wanted:
            bucket.level -= amount
        return functools.partial(_refund, wanted)

    def _bucket(self, key: str, kind: str, per_minute: int, now: float) -> _Bucket:
        capacity = per_minute * self._share
        bucket = self._buckets.setdefault((key, kind), _Bucket(capacity, capacity, now))
        bucket.refill(now)
        return bucket


def _refund(taken: list[tuple[_Bucket, float]]) -> None:
    for bucket, amount in taken:
        bucket.level = min(bucket.capacity, bucket.level + amount)


def _nothing() -> None:
    pass
