"""QualityPredictor at routing time: learned abilities for labelled models, the tier line
for the rest (listed as ``prior``), and a prompt-dependent estimate for every candidate."""

import math

import numpy as np
import pytest

from router.classifier.model import Candidate, PromptItem, QualityPredictor
from tests.predictors import artifact, random_artifact, slope_logit, static_encoder
from tests.unit.router.routing.conftest import EXTERNAL, QWEN, SMOL

PROMPTS = [
    "hi",
    "Write a Python function that merges two sorted lists.",
    "What is the integral of x^3 from 0 to 2?",
    "Who wrote Pride and Prejudice?",
    "Explain how TCP congestion control works, with the equations for AIMD.",
]


def test_labelled_models_use_their_learned_ability() -> None:
    # Three labelled tiers off a straight line: each keeps its own ability.
    art = artifact(models=("a", "b", "c"), tiers=(1, 2, 4), abilities=(0.0, 1.5, 2.0))
    predictor = QualityPredictor(art, static_encoder())
    assert predictor.ability(Candidate("b", 2)) == 1.5
    assert predictor.ability(Candidate("b", 9)) == 1.5  # its label, not its configured tier
    assert predictor.ability(Candidate("new", 2)) != 1.5  # the line at tier 2


def test_unlabelled_models_sit_on_the_tier_line() -> None:
    predictor = QualityPredictor(artifact(), static_encoder())  # tier 1 -> 0, tier 2 -> 1
    assert predictor.ability(Candidate(EXTERNAL, 5)) == pytest.approx(4.0)
    assert predictor.ability(Candidate("between", 1)) == pytest.approx(0.0)
    fitted = artifact(models=("a", "b", "c"), tiers=(1, 2, 4), abilities=(0.0, 1.0, 2.5))
    slope, intercept = np.polyfit([1, 2, 4], [0.0, 1.0, 2.5], 1)
    line = QualityPredictor(fitted, static_encoder())
    assert line.ability(Candidate("x", 6)) == pytest.approx(intercept + 6 * slope)


def test_one_labelled_tier_means_one_ability_unit_per_tier() -> None:
    art = artifact(models=("only",), tiers=(3,), abilities=(0.7,))
    predictor = QualityPredictor(art, static_encoder())
    assert predictor.ability(Candidate("up", 5)) == pytest.approx(2.7)
    assert predictor.ability(Candidate("down", 1)) == pytest.approx(-1.3)


def test_the_estimate_covers_every_candidate_and_names_the_prior_ones() -> None:
    item = PromptItem(reliance=1.2, difficulty=0.5)
    predictor = QualityPredictor(artifact(), static_encoder())
    candidates = [Candidate(SMOL, 1), Candidate(QWEN, 2), Candidate(EXTERNAL, 5)]
    estimate = predictor.estimate_item(item, candidates)
    assert estimate.prior == (EXTERNAL,)
    expected = {
        SMOL: 1 / (1 + math.exp(0.5)),
        QWEN: 1 / (1 + math.exp(-(1.2 - 0.5))),
        EXTERNAL: 1 / (1 + math.exp(-(4 * 1.2 - 0.5))),
    }
    assert estimate.quality == pytest.approx(expected)
    assert predictor.estimate_item(item, candidates[:2]).prior == ()


def test_the_item_is_the_artifacts_linear_maps_of_the_prompt() -> None:
    x = static_encoder().embed(["Sort a list in Python."])[0]
    weights = np.linspace(-1.0, 1.0, static_encoder().dimensions)
    art = artifact(
        slope_weights=weights, slope_bias=0.3, difficulty_weights=-weights, difficulty_bias=0.1
    )
    item = QualityPredictor(art, static_encoder()).item(x)
    projected = float(x @ weights.astype(np.float32))
    assert item.reliance == pytest.approx(math.log1p(math.exp(projected + 0.3)), rel=1e-5)
    assert item.difficulty == pytest.approx(-projected + 0.1, rel=1e-5)
    assert item.reliance > 0


def test_the_estimate_depends_on_the_prompt() -> None:
    predictor = QualityPredictor(random_artifact(seed=1), static_encoder())
    candidates = [Candidate(SMOL, 1), Candidate(QWEN, 2), Candidate(EXTERNAL, 5)]
    estimates = [predictor.estimate(text, candidates).quality for text in PROMPTS]
    for model in (SMOL, QWEN, EXTERNAL):
        assert len({round(e[model], 6) for e in estimates}) == len(PROMPTS)
    item = predictor.item(static_encoder().embed([PROMPTS[1]])[0])
    assert estimates[1] == predictor.estimate_item(item, candidates).quality


def test_a_higher_tier_is_never_predicted_lower() -> None:
    # Labelled tiers 1, 2, 4 (abilities rising, as the trainer keeps them) and unlabelled
    # tiers between and above them.
    art = random_artifact(seed=2)
    art = artifact(
        slope_weights=art.slope_weights,
        slope_bias=art.slope_bias,
        difficulty_weights=art.difficulty_weights,
        difficulty_bias=art.difficulty_bias,
        models=("t1", "t2", "t4"),
        tiers=(1, 2, 4),
        abilities=(0.0, 1.0, 2.5),
    )
    predictor = QualityPredictor(art, static_encoder())
    candidates = [
        Candidate("t1", 1),
        Candidate("t2", 2),
        Candidate("new3", 3),
        Candidate("t4", 4),
        Candidate("new5", 5),
        Candidate("new6", 6),
    ]
    for text in PROMPTS:
        estimate = predictor.estimate(text, candidates)
        by_tier = [estimate.quality[c.model_id] for c in candidates]
        assert by_tier == sorted(by_tier), text
        assert estimate.prior == ("new3", "new5", "new6")


def test_calibration_items_are_the_artifacts_held_out_items() -> None:
    calibration = np.array([[slope_logit(0.5), -1.0], [slope_logit(2.0), 3.0]])
    predictor = QualityPredictor(artifact(calibration=calibration), static_encoder())
    items = predictor.calibration_items()
    assert [(round(i.reliance, 5), round(i.difficulty, 5)) for i in items] == [
        (0.5, -1.0),
        (2.0, 3.0),
    ]


def test_extreme_prompts_do_not_overflow() -> None:
    encoder = static_encoder()
    direction = np.zeros(encoder.dimensions, dtype=np.float32)
    direction[0] = 1.0
    predictor = QualityPredictor(
        artifact(slope_weights=direction, difficulty_weights=-direction), encoder
    )
    item = predictor.item(1000.0 * direction)
    assert item.reliance == pytest.approx(1000.0)
    assert item.p_acceptable(1.0) == 1.0
    flat = predictor.item(-1000.0 * direction)
    assert flat.reliance == pytest.approx(0.0, abs=1e-300)
    assert flat.p_acceptable(1.0) == pytest.approx(0.0, abs=1e-300)
