"""RouteLLM's metrics on cases small enough to compute by hand.

Four prompts: the small model gets only #0 right, the large one #0-#2, so always-small
quality is 0.25, always-large 0.75, and only #1 and #2 gain from the large model.
"""

import math

import numpy as np
import pytest

from router.training.evaluate import (
    apgr,
    compare_routers,
    cpt,
    pair_apgr,
    router_result,
    routing_curve,
)

SMALL = [1, 0, 0, 0]
LARGE = [1, 1, 1, 0]
GAIN = [0, 1, 1, 0]


def test_perfect_router_curve_and_metrics() -> None:
    curve = routing_curve(GAIN, SMALL, LARGE)
    np.testing.assert_allclose(curve.shares, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve.quality, [0.25, 0.5, 0.75, 0.75, 0.75])
    np.testing.assert_allclose(curve.pgr(), [0, 0.5, 1, 1, 1])
    # Trapezoids of width 0.25 over PGR 0, .5, 1, 1, 1.
    assert apgr(curve) == pytest.approx(0.75)
    assert cpt(curve, 0.5) == pytest.approx(0.25)
    # Between (0.25, PGR .5) and (0.5, PGR 1): 0.25 + (0.8 - 0.5) / 0.5 * 0.25.
    assert cpt(curve, 0.8) == pytest.approx(0.40)


def test_random_router_is_the_chord() -> None:
    result = router_result(routing_curve([0, 0, 0, 0], SMALL, LARGE))
    np.testing.assert_allclose(result.curve.quality, [0.25, 0.375, 0.5, 0.625, 0.75])
    assert result.apgr == pytest.approx(0.5)
    assert result.cpt == pytest.approx({0.5: 0.5, 0.8: 0.8})


def test_worst_router_routes_the_gains_last() -> None:
    result = router_result(routing_curve([-g for g in GAIN], SMALL, LARGE))
    np.testing.assert_allclose(result.curve.pgr(), [0, 0, 0, 0.5, 1])
    assert result.apgr == pytest.approx(0.25)
    assert result.cpt == pytest.approx({0.5: 0.75, 0.8: 0.9})


def test_ties_take_the_expected_quality_whatever_the_input_order() -> None:
    first = routing_curve([1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0])
    second = routing_curve([1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0])
    # One of the two tied prompts gains: sending one of them gains half a prompt.
    np.testing.assert_allclose(first.quality, [0, 0.125, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(second.quality, first.quality)


def test_pgr_is_undefined_without_a_gap_between_the_models() -> None:
    curve = routing_curve([1, 0], [1, 0], [0, 1])
    assert np.isnan(curve.pgr()).all()
    assert math.isnan(apgr(curve))
    assert math.isnan(cpt(curve, 0.5))


def test_compare_routers_names_each_result() -> None:
    results = compare_routers({"oracle": GAIN, "random": [0, 0, 0, 0]}, SMALL, LARGE)
    assert set(results) == {"oracle", "random"}
    assert results["oracle"].apgr > results["random"].apgr


def test_pair_apgr_is_the_apgr_of_the_routing_curve() -> None:
    assert pair_apgr(GAIN, SMALL, LARGE) == pytest.approx(0.75)
    assert pair_apgr([0, 0, 0, 0], SMALL, LARGE) == pytest.approx(0.5)
    assert pair_apgr([-g for g in GAIN], SMALL, LARGE) == pytest.approx(0.25)
    # Only the order of the scores counts, not their scale.
    assert pair_apgr([0.1, 0.9, 0.8, 0.2], SMALL, LARGE) == pytest.approx(0.75)
    assert math.isnan(pair_apgr([1, 0], [1, 0], [0, 1]))
