"""HighestTotalPicker: every candidate, by the runner's weighted total, best first."""

from router.routing.picker import HighestTotalPicker
from router.routing.stages import ScoredTarget
from tests.unit.router.routing.conftest import EXTERNAL, QWEN, SMOL, target


def scored(model_id: str, total: float) -> ScoredTarget:
    return ScoredTarget(target(model_id), {"quality": total}, total)


def ids(ranked: list[ScoredTarget]) -> list[str]:
    return [s.target.id for s in ranked]


def test_highest_total_first() -> None:
    fleet = [scored(SMOL, 0.4), scored(QWEN, 1.3), scored(EXTERNAL, 1.0)]
    assert ids(HighestTotalPicker().rank(fleet)) == [QWEN, EXTERNAL, SMOL]


def test_equal_totals_keep_the_input_order() -> None:
    fleet = [scored(EXTERNAL, 1.0), scored(SMOL, 0.2), scored(QWEN, 1.0)]
    assert ids(HighestTotalPicker().rank(fleet)) == [EXTERNAL, QWEN, SMOL]
    fleet = [scored(QWEN, 1.0), scored(SMOL, 0.2), scored(EXTERNAL, 1.0)]
    assert ids(HighestTotalPicker().rank(fleet)) == [QWEN, EXTERNAL, SMOL]


def test_it_reads_no_scorer_by_name() -> None:
    # A high quality score with a low total still ranks by the total.
    fleet = [
        ScoredTarget(target(SMOL), {"quality": 1.0}, 0.1),
        ScoredTarget(target(QWEN), {"quality": 0.0}, 0.9),
    ]
    assert ids(HighestTotalPicker().rank(fleet)) == [QWEN, SMOL]


def test_every_candidate_is_returned_once() -> None:
    fleet = [scored(SMOL, 0.5), scored(QWEN, 0.5), scored(EXTERNAL, 0.7)]
    ranked = HighestTotalPicker().rank(fleet)
    assert sorted(ids(ranked)) == sorted([SMOL, QWEN, EXTERNAL]) and ranked is not fleet
