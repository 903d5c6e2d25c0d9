"""Quality and cost scorers on the default fleet's real targets."""

from dataclasses import replace

import pytest

from router.classifier.model import Estimate
from router.model_config import Cost
from router.routing.scorers import SCORERS
from router.routing.scorers.cost import EXPECTED_COMPLETION_TOKENS, CostScorer
from router.routing.scorers.quality import QualityScorer
from router.routing.stages import QualityView
from router.routing.targets import route_targets
from tests.unit.router.routing.conftest import (
    EXTERNAL,
    FLEET,
    QWEN,
    SMOL,
    facts,
    fleet_config,
    target,
)

ESTIMATE = Estimate({SMOL: 0.55, QWEN: 0.75, EXTERNAL: 0.9}, prior=(EXTERNAL,))


def quality(tolerance: float, estimate: Estimate = ESTIMATE) -> dict[str, float]:
    view = QualityView(estimate, tolerance)
    return {m: QualityScorer().score(facts(), target(m), view) for m in (SMOL, QWEN, EXTERNAL)}


def test_within_the_tolerance_of_the_best_is_adequate() -> None:
    assert quality(0.2) == {SMOL: pytest.approx(0.5 * 0.55 / 0.7), QWEN: 1.0, EXTERNAL: 1.0}
    on_the_bar = quality(0.15)  # Qwen's 0.75 is exactly the best's 0.9 less 0.15
    assert on_the_bar == {SMOL: pytest.approx(0.5 * 0.55 / 0.75), QWEN: 1.0, EXTERNAL: 1.0}
    assert quality(0.35) == {SMOL: 1.0, QWEN: 1.0, EXTERNAL: 1.0}
    assert quality(float("inf")) == {SMOL: 1.0, QWEN: 1.0, EXTERNAL: 1.0}  # knob 0


def test_tolerance_zero_leaves_only_the_best_adequate() -> None:
    scores = quality(0.0)
    assert scores[EXTERNAL] == 1.0
    assert 0.0 < scores[SMOL] < scores[QWEN] < 0.5


def test_an_inadequate_score_is_below_half_and_grows_with_the_prediction() -> None:
    predictions = [0.0, 0.1, 0.3, 0.5, 0.69]  # all short of 0.9 - 0.2
    scores = []
    for p in predictions:
        estimate = Estimate({SMOL: p, QWEN: 0.75, EXTERNAL: 0.9})
        scores.append(quality(0.2, estimate)[SMOL])
    assert scores[0] == 0.0 and all(s < 0.5 for s in scores)
    assert scores == sorted(scores) and len(set(scores)) == len(scores)


def test_without_a_quality_view_every_target_is_adequate() -> None:
    assert all(QualityScorer().score(facts(), target(m), None) == 1.0 for m in FLEET)


def cost_scores(**body: object) -> dict[str, float]:
    scorer = CostScorer(route_targets(fleet_config(), FLEET))
    request = replace(facts(**body), prompt_tokens={SMOL: 1000, QWEN: 900})
    return {m: scorer.score(request, target(m), None) for m in (SMOL, QWEN, EXTERNAL)}


def test_cost_is_one_minus_the_price_relative_to_the_dearest() -> None:
    scores = cost_scores(max_tokens=100)
    assert scores[EXTERNAL] == 0.0  # the dearest
    # external is priced on the largest known count (1000): 2.5 * 1000 + 10 * 100
    dearest = 2.5 * 1000 + 10.0 * 100
    assert scores[QWEN] == pytest.approx(1 - (0.10 * 900 + 0.30 * 100) / dearest)
    assert scores[SMOL] == pytest.approx(1 - (0.02 * 1000 + 0.06 * 100) / dearest)
    assert scores[SMOL] > scores[QWEN] > scores[EXTERNAL]  # the cheapest scores highest
    assert all(0.0 <= s <= 1.0 for s in scores.values())


def test_cost_without_max_tokens_assumes_a_typical_completion() -> None:
    scorer = CostScorer(route_targets(fleet_config(), FLEET))
    request = replace(facts(), prompt_tokens={SMOL: 0, QWEN: 0})
    expected = 1 - (0.30 * EXPECTED_COMPLETION_TOKENS) / (10.0 * EXPECTED_COMPLETION_TOKENS)
    assert scorer.score(request, target(QWEN), None) == pytest.approx(expected)


def test_cost_is_relative_to_the_serving_fleet() -> None:
    local = CostScorer(route_targets(fleet_config(), {SMOL, QWEN}))
    request = replace(facts(max_tokens=100), prompt_tokens={SMOL: 1000, QWEN: 900})
    assert local.score(request, target(QWEN), None) == 0.0  # now the dearest
    assert 0.0 < local.score(request, target(SMOL), None) < 1.0


def test_free_models_all_score_one() -> None:
    nothing = Cost(input_per_mtok=0.0, output_per_mtok=0.0)
    free = [replace(t, cost=nothing) for t in route_targets(fleet_config(), FLEET)]
    scorer = CostScorer(free)
    assert {scorer.score(facts(), t, None) for t in free} == {1.0}


def test_the_registry_builds_every_scorer_for_a_fleet() -> None:
    targets = route_targets(fleet_config(), FLEET)
    built = {name: make(targets) for name, make in SCORERS.items()}
    assert set(built) == {"quality", "cost"}
    assert all(scorer.name == name for name, scorer in built.items())
