"""The margin that holds a TTFT target for a share of requests."""

import math
import random
import statistics

import pytest

from router.load.ttft_margin import BOUNDS, TtftMargin


def test_a_miss_raises_the_margin_as_much_as_nineteen_hits_lower_it() -> None:
    """At the 0.95 quantile one miss in twenty leaves the margin where it was."""
    margin = TtftMargin(quantile=0.95)
    margin.observe(met=False)
    assert margin.value > 1.0
    for _ in range(19):
        margin.observe(met=True)
    assert margin.value == pytest.approx(1.0)


@pytest.mark.parametrize("quantile", [0.8, 0.9, 0.95])
def test_it_settles_where_the_quantiles_share_of_requests_meet_the_target(
    quantile: float,
) -> None:
    """A queue whose real TTFT is the prediction times a lognormal error: the rule keeps
    a request when prediction x margin <= target and overflows it otherwise (to a provider
    within the target). The share of all requests that meet the target settles at the
    quantile, whatever the error's spread, with fewer overflowed than holding each
    request to its own error's quantile would."""
    rng = random.Random(7)
    margin, met, overflowed, error = TtftMargin(quantile), 0, 0, 0.4
    for i in range(20_000):
        predicted = rng.uniform(0.05, 0.6)
        kept = predicted * margin.value <= 0.3
        measured = predicted * rng.lognormvariate(0.0, error) if kept else 0.15
        margin.observe(met=measured <= 0.3)
        if i >= 10_000:
            met += measured <= 0.3
            overflowed += not kept
    assert met / 10_000 == pytest.approx(quantile, abs=0.02)
    each_to_its_tail = math.exp(error * statistics.NormalDist().inv_cdf(quantile))
    assert overflowed / 10_000 < (0.6 - 0.3 / each_to_its_tail) / 0.55


def test_the_margin_stays_within_its_bounds() -> None:
    margin = TtftMargin()
    for _ in range(1000):
        margin.observe(met=False)
    assert margin.value == BOUNDS[1]
    for _ in range(10_000):
        margin.observe(met=True)
    assert margin.value == BOUNDS[0]
