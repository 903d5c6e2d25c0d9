"""The margin that holds a TTFT target for a share of requests."""

import random

import pytest

from router.load.ttft_margin import BOUNDS, TtftMargin


def test_a_miss_raises_the_margin_as_much_as_nineteen_hits_lower_it() -> None:
    """At the 0.95 quantile one miss in twenty leaves the margin where it was."""
    margin = TtftMargin(quantile=0.95)
    margin.observe(measured_s=0.5, target_s=0.3)
    assert margin.value > 1.0
    for _ in range(19):
        margin.observe(measured_s=0.1, target_s=0.3)
    assert margin.value == pytest.approx(1.0)


@pytest.mark.parametrize("quantile", [0.8, 0.9, 0.95])
def test_it_settles_where_the_quantiles_share_of_requests_meet_the_target(
    quantile: float,
) -> None:
    """A queue whose real TTFT is the prediction times a lognormal error: the rule lets
    a request in when prediction x margin <= target. The share of admitted requests that
    meet the target settles at the quantile, whatever the error's spread."""
    rng = random.Random(7)
    margin, met, admitted = TtftMargin(quantile), 0, 0
    for i in range(20_000):
        predicted = rng.uniform(0.05, 0.6)
        if predicted * margin.value > 0.3:
            continue  # overflowed: no TTFT measured here
        measured = predicted * rng.lognormvariate(0.0, 0.4)
        margin.observe(measured, target_s=0.3)
        if i >= 10_000:
            admitted += 1
            met += measured <= 0.3
    assert met / admitted == pytest.approx(quantile, abs=0.02)


def test_the_margin_stays_within_its_bounds() -> None:
    margin = TtftMargin()
    for _ in range(1000):
        margin.observe(10.0, 0.1)
    assert margin.value == BOUNDS[1]
    for _ in range(10_000):
        margin.observe(0.0, 0.1)
    assert margin.value == BOUNDS[0]
