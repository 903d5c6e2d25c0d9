"""Per-key rate limits: requests and tokens per minute (``auth.keys.<name>``), as token
buckets on an injected clock.

With several router replicas each enforces ``limit / router.num_replicas``: Ray Serve
spreads requests over the router replicas, so the split approximates the global limit
without a shared store (a key whose traffic lands unevenly may be refused a little early,
never let through much above its limit). Tokens are reserved at admission at their worst
case, the exact prompt tokens of the chosen model plus ``n`` times its completion budget
(``max_tokens``, else what the model allows), and settled with the real usage when the
answer ends: a key pays for what it used, but cannot start more than it could pay for.
"""

from collections.abc import Callable
from dataclasses import dataclass

from router.auth import Caller


class OverKeyLimit(Exception):
    """The key's requests- or tokens-per-minute budget cannot take the request now."""

    def __init__(self, key: str, wait_s: float) -> None:
        super().__init__(key, wait_s)
        self.key, self.wait_s = key, wait_s  # until it would fit


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

    def check(self, caller: Caller, tokens: int) -> None:
        """Raise ``OverKeyLimit`` if the key could not take a request of at least
        ``tokens`` now; takes nothing (the cheap refusal that runs before the exact count)."""
        self._buckets_for(caller, tokens)

    def admit(self, caller: Caller, tokens: int) -> "Reservation":
        """Take one request and ``tokens`` (the worst case) from the key's budgets, or
        raise ``OverKeyLimit``; the reservation is settled with the real usage when the
        answer ends."""
        requests, token_bucket = self._buckets_for(caller, tokens)
        reservation = Reservation(requests, token_bucket, tokens)
        reservation.take()
        return reservation

    def _buckets_for(self, caller: Caller, tokens: int) -> tuple[_Bucket | None, _Bucket | None]:
        """The key's requests and tokens buckets (None: no such limit), once both have room."""
        if caller.name is None:
            return None, None
        policy, now = caller.policy, self._clock()
        requests = token_bucket = None
        if policy.requests_per_minute is not None:
            requests = self._bucket(caller.name, "requests", policy.requests_per_minute, now)
        if policy.tokens_per_minute is not None:
            token_bucket = self._bucket(caller.name, "tokens", policy.tokens_per_minute, now)
        wait = max(
            requests.wait_s(1.0) if requests else 0.0,
            token_bucket.wait_s(float(tokens)) if token_bucket else 0.0,
        )
        if wait > 0:
            raise OverKeyLimit(caller.name, wait)
        return requests, token_bucket

    def _bucket(self, key: str, kind: str, per_minute: int, now: float) -> _Bucket:
        capacity = per_minute * self._share
        bucket = self._buckets.setdefault((key, kind), _Bucket(capacity, capacity, now))
        bucket.refill(now)
        if bucket.capacity != capacity:  # the key's limit changed on a running app
            bucket.capacity, bucket.level = capacity, min(bucket.level, capacity)
        return bucket


@dataclass
class Reservation:
    """What one admitted request took from its key's buckets; given back or settled once."""

    requests: _Bucket | None
    tokens: _Bucket | None
    reserved_tokens: int
    _open: bool = False

    def take(self) -> None:
        self._move(-1.0, -float(self.reserved_tokens))
        self._open = True

    def refund(self) -> None:
        """Refused after all (nothing was served): everything goes back, so a client
        retrying after Retry-After is not charged twice."""
        if self._open:
            self._move(1.0, float(self.reserved_tokens))
            self._open = False

    def settle(self, used_tokens: int | None) -> None:
        """The answer ended having used ``used_tokens`` (None: unknown, the reservation
        stands): the tokens bucket gets back what was reserved and not used, or pays what
        was used beyond it."""
        if self._open and used_tokens is not None:
            self._move(0.0, float(self.reserved_tokens - used_tokens))
        self._open = False

    def _move(self, requests: float, tokens: float) -> None:
        for bucket, amount in ((self.requests, requests), (self.tokens, tokens)):
            if bucket is not None:
                bucket.level = min(bucket.capacity, bucket.level + amount)
