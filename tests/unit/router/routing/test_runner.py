"""The runner's part of scoring: every score clamped to [0, 1], totals weighted by the
configured weights, and the quality view handed to scorers only for routed requests."""

import pytest

from router.routing.facts import RequestFacts
from router.routing.stages import QualityView
from router.routing.targets import RouteTarget
from tests.unit.router.routing.conftest import EXTERNAL, QWEN, SMOL, facts, runner


class Fixed:
    """A scorer that gives each model a fixed score and remembers what it was shown."""

    def __init__(self, name: str, by_model: dict[str, float]) -> None:
        self.name = name
        self._by_model = by_model
        self.seen: list[QualityView | None] = []

    def score(self, facts: RequestFacts, target: RouteTarget, quality: QualityView | None) -> float:
        self.seen.append(quality)
        return self._by_model[target.id]


def test_scores_are_clamped_to_the_unit_interval() -> None:
    loud = Fixed("loud", {SMOL: 5.0, QWEN: -1.0, EXTERNAL: 0.5})
    decision = runner({loud: 1.0}).decide(facts())
    assert [(r.model_id, r.scores["loud"], r.total) for r in decision.ranked] == [
        (SMOL, 1.0, 1.0),
        (EXTERNAL, 0.5, 0.5),
        (QWEN, 0.0, 0.0),
    ]


def test_totals_are_weighted_sums() -> None:
    first = Fixed("first", {SMOL: 1.0, QWEN: 0.5, EXTERNAL: 0.0})
    second = Fixed("second", {SMOL: 0.0, QWEN: 0.25, EXTERNAL: 1.0})
    decision = runner({first: 1.0, second: 3.0}).decide(facts())
    totals = {r.model_id: r.total for r in decision.ranked}
    assert totals == {EXTERNAL: 3.0, QWEN: pytest.approx(1.25), SMOL: 1.0}
    assert decision.model_id == EXTERNAL


def test_a_zero_weight_removes_a_scorers_influence_but_its_score_is_shown() -> None:
    ignored = Fixed("ignored", {SMOL: 1.0, QWEN: 0.0, EXTERNAL: 0.0})
    deciding = Fixed("deciding", {SMOL: 0.1, QWEN: 0.3, EXTERNAL: 0.2})
    decision = runner({ignored: 0.0, deciding: 1.0}).decide(facts())
    assert [r.model_id for r in decision.ranked] == [QWEN, EXTERNAL, SMOL]
    assert decision.ranked[-1].scores == {"ignored": 1.0, "deciding": 0.1}


def test_routed_scorers_see_the_estimate_and_the_knobs_tolerance() -> None:
    watcher = Fixed("watcher", {SMOL: 0.0, QWEN: 0.0, EXTERNAL: 0.0})
    decision = runner({watcher: 1.0}).decide(facts(headers={"x-switchboard-quality": "0.8"}))
    assert len(watcher.seen) == 3  # once per candidate
    view = watcher.seen[0]
    assert view is not None and all(seen is view for seen in watcher.seen)
    assert decision.knob is not None and view.tolerance == decision.knob.tolerance
    assert view.estimate is decision.estimate and set(view.estimate.quality) == {
        SMOL,
        QWEN,
        EXTERNAL,
    }


def test_a_pinned_request_is_scored_without_a_quality_view() -> None:
    watcher = Fixed("watcher", {SMOL: 0.0, QWEN: 0.0, EXTERNAL: 0.0})
    decision = runner({watcher: 1.0}).decide(facts(QWEN))
    assert watcher.seen == [None] and decision.estimate is None


def test_equal_totals_keep_the_fleet_order() -> None:
    flat = Fixed("flat", {SMOL: 0.5, QWEN: 0.5, EXTERNAL: 0.5})
    decision = runner({flat: 1.0}).decide(facts())
    assert [r.model_id for r in decision.ranked] == [SMOL, QWEN, EXTERNAL]
