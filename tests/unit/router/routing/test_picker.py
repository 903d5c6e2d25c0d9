"""CheapestAdequatePicker: adequate targets cheapest first, then the rest by quality."""

from router.routing.picker import CheapestAdequatePicker
from router.routing.stages import ScoredTarget
from tests.unit.router.routing.conftest import EXTERNAL, QWEN, SMOL, target


def scored(model_id: str, quality: float, cost: float) -> ScoredTarget:
    return ScoredTarget(target(model_id), {"quality": quality, "cost": cost})


FLEET = [scored(EXTERNAL, 1.0, 1.0), scored(QWEN, 1.0, 0.04), scored(SMOL, 0.7, 0.01)]


def ids(ranked: list[ScoredTarget]) -> list[str]:
    return [s.target.id for s in ranked]


def test_small_is_first_when_good_enough() -> None:
    assert ids(CheapestAdequatePicker().rank(FLEET, threshold=0.6)) == [SMOL, QWEN, EXTERNAL]


def test_small_goes_last_when_not_good_enough() -> None:
    assert ids(CheapestAdequatePicker().rank(FLEET, threshold=0.8)) == [QWEN, EXTERNAL, SMOL]


def test_share_one_sends_everything_to_the_larger_models() -> None:
    ranked = CheapestAdequatePicker().rank(FLEET, threshold=float("inf"))
    assert ids(ranked) == [QWEN, EXTERNAL, SMOL]
