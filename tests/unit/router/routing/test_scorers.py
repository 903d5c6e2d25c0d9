"""Quality and cost scorers on the default fleet's real targets."""

from dataclasses import replace

import pytest

from router.classifier.model import Estimate
from router.routing.scorers.cost import EXPECTED_COMPLETION_TOKENS, CostScorer
from router.routing.scorers.quality import QualityScorer
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

ESTIMATE = Estimate(category="math", category_probability=0.9, small_suffices=0.35)


def test_quality_is_the_estimate_for_small_models_only() -> None:
    scorer = QualityScorer(small_max_tier=1)
    assert scorer.score(facts(), target(SMOL), ESTIMATE) == 0.35
    assert scorer.score(facts(), target(QWEN), ESTIMATE) == 1.0
    assert scorer.score(facts(), target(SMOL), None) == 1.0  # nothing estimated


def test_cost_is_relative_to_the_dearest_model() -> None:
    scorer = CostScorer(route_targets(fleet_config(), FLEET))
    request = replace(facts(max_tokens=100), prompt_tokens={SMOL: 1000, QWEN: 900})
    assert scorer.score(request, target(EXTERNAL), None) == 1.0
    # external is priced on the largest known count (1000): 2.5 * 1000 + 10 * 100
    expected_qwen = (0.10 * 900 + 0.30 * 100) / (2.5 * 1000 + 10.0 * 100)
    assert scorer.score(request, target(QWEN), None) == pytest.approx(expected_qwen)
    assert scorer.score(request, target(SMOL), None) < scorer.score(request, target(QWEN), None)


def test_cost_without_max_tokens_assumes_a_typical_completion() -> None:
    scorer = CostScorer(route_targets(fleet_config(), FLEET))
    request = replace(facts(), prompt_tokens={SMOL: 0, QWEN: 0})
    expected = (0.30 * EXPECTED_COMPLETION_TOKENS) / (10.0 * EXPECTED_COMPLETION_TOKENS)
    assert scorer.score(request, target(QWEN), None) == pytest.approx(expected)
