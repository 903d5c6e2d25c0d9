"""Per-key token buckets on an injected clock."""

import pytest

from router.auth import ANONYMOUS, Caller
from router.load.rate_limit import OverKeyLimit, RateLimiter
from router.policy_config import KeyPolicy
from tests.clock import FakeClock


def test_requests_per_minute_refill_over_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(router_replicas=1, clock=clock)
    caller = Caller("k", KeyPolicy(requests_per_minute=2))
    limiter.admit(caller, 10)
    limiter.admit(caller, 10)
    with pytest.raises(OverKeyLimit) as raised:
        limiter.admit(caller, 10)
    assert raised.value.key == "k" and raised.value.wait_s == pytest.approx(30)
    clock.now += 30  # one request's worth (60 s / 2)
    limiter.admit(caller, 10)


def test_tokens_per_minute_count_the_request() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(tokens_per_minute=1000))
    limiter.admit(caller, 900)
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 200)
    limiter.admit(caller, 100)  # what is left still fits


def test_a_refused_request_takes_nothing() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(requests_per_minute=5, tokens_per_minute=100))
    limiter.admit(caller, 50)
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 60)
    for _ in range(4):
        limiter.admit(caller, 10)  # the refused one took no request and no tokens


def test_the_limit_is_split_between_router_replicas() -> None:
    limiter = RateLimiter(router_replicas=4, clock=FakeClock())
    caller = Caller("k", KeyPolicy(requests_per_minute=8))
    limiter.admit(caller, 1)
    limiter.admit(caller, 1)
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 1)


def test_keys_without_limits_and_unnamed_keys_pass() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    for _ in range(100):
        limiter.admit(ANONYMOUS, 10**6)
        limiter.admit(Caller("free", KeyPolicy()), 10**6)


def test_one_request_larger_than_the_budget_passes_when_full_then_pays_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(router_replicas=1, clock=clock)
    caller = Caller("k", KeyPolicy(tokens_per_minute=100))
    limiter.admit(caller, 250)  # never refused forever
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 1)
    clock.now += 60 * 2.5  # 150 tokens of debt plus one more
    limiter.admit(caller, 1)


def test_a_refund_gives_back_what_a_refused_request_took() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(requests_per_minute=1, tokens_per_minute=100))
    reservation = limiter.admit(caller, 80)
    reservation.refund()  # e.g. every model was busy: the client will retry after Retry-After
    limiter.admit(caller, 80)


def test_a_reservation_settles_with_the_tokens_really_used() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(tokens_per_minute=1000))
    # n=4 x max_tokens 200 + 100 prompt tokens reserved; the answer used 160 in all
    limiter.admit(caller, 900).settle(160)
    limiter.admit(caller, 840)  # 1000 - 160 is free again
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 1)


def test_usage_beyond_the_reservation_is_charged() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(tokens_per_minute=1000))
    limiter.admit(caller, 100).settle(700)  # e.g. the provider counted more
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 301)
    limiter.admit(caller, 300)


def test_an_unknown_usage_keeps_the_reservation_and_settling_twice_is_once() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(tokens_per_minute=1000))
    reservation = limiter.admit(caller, 600)
    reservation.settle(None)  # the client left before any usage came back
    reservation.settle(0)
    reservation.refund()
    with pytest.raises(OverKeyLimit):
        limiter.admit(caller, 401)


def test_check_refuses_without_taking_anything() -> None:
    limiter = RateLimiter(router_replicas=1, clock=FakeClock())
    caller = Caller("k", KeyPolicy(requests_per_minute=2, tokens_per_minute=100))
    limiter.admit(caller, 50)
    limiter.check(caller, 50)
    with pytest.raises(OverKeyLimit):
        limiter.check(caller, 51)
    limiter.admit(caller, 50)  # the checks took neither the request nor tokens


def test_a_changed_limit_applies_to_the_keys_bucket_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(router_replicas=1, clock=clock)
    limiter.admit(Caller("k", KeyPolicy(requests_per_minute=10)), 1)
    lowered = Caller("k", KeyPolicy(requests_per_minute=1))  # a live policy change
    limiter.admit(lowered, 1)
    with pytest.raises(OverKeyLimit) as raised:
        limiter.admit(lowered, 1)
    assert raised.value.wait_s == pytest.approx(60)
    with pytest.raises(OverKeyLimit) as raised:  # raised: still empty, refilling faster
        limiter.admit(Caller("k", KeyPolicy(requests_per_minute=120)), 1)
    assert raised.value.wait_s == pytest.approx(0.5)
