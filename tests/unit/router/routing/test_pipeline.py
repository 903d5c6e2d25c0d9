"""The whole decision on the default fleet: real tokenizers, real prompt encoder, a
predictor whose artifact places every prompt at a known position of its calibration set
(see conftest: a knob of share s leaves SmolLM2 exactly when position > 1 - s)."""

import json
import math

import pytest

from router.auth import Caller
from router.policy_config import KeyPolicy
from router.routing.decision import Decision
from router.routing.refusal import RoutingRefused
from tests.unit.router.routing.conftest import (
    EXTERNAL,
    QWEN,
    SMOL,
    PipelineFor,
    facts,
    fleet_config,
)

LONG = "lorem ipsum dolor sit amet " * 1800  # ~9,000 SmolLM2 tokens: over its 8,192


def order(decision: Decision) -> list[str]:
    return [r.model_id for r in decision.ranked]


def test_an_easy_prompt_goes_to_the_cheapest_model(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.1).decide(facts())
    assert decision.model_id == SMOL and decision.route == "classifier"
    assert order(decision) == [SMOL, QWEN, EXTERNAL]  # all adequate: cheapest first
    assert decision.knob is not None and decision.knob.source == "deployment"
    assert all(r.scores["quality"] == 1.0 for r in decision.ranked)


def test_a_hard_prompt_goes_to_the_cheapest_adequate_model(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.9).decide(facts())
    assert order(decision) == [QWEN, EXTERNAL, SMOL]
    assert decision.estimate is not None and decision.knob is not None
    quality = decision.estimate.quality
    assert quality[SMOL] < quality[QWEN] < quality[EXTERNAL]
    assert quality[EXTERNAL] - quality[QWEN] <= decision.knob.tolerance  # Qwen is adequate
    assert quality[EXTERNAL] - quality[SMOL] > decision.knob.tolerance  # SmolLM2 is not
    assert [r.total for r in decision.ranked] == sorted(
        (r.total for r in decision.ranked), reverse=True
    )


@pytest.mark.parametrize(
    ("position", "knob", "chosen"),
    [
        (0.3, "0", SMOL),  # share 0: never leaves the cheapest
        (0.3, "economy", SMOL),  # 0.3 is not in the top 20 %
        (0.3, "0.5", SMOL),
        (0.3, "quality", EXTERNAL),  # in the top 80 %: Qwen is no closer to the best
        (0.9, "0", SMOL),
        (0.9, "economy", QWEN),  # in the top 20 %: Qwen is within the wide tolerance
        (0.9, "quality", EXTERNAL),  # a tighter tolerance leaves only the best
        (0.9, "1", EXTERNAL),  # share 1: always the best
        (0.1, "1", EXTERNAL),
    ],
)
def test_the_knob_moves_the_tolerance(
    pipeline_for: PipelineFor, position: float, knob: str, chosen: str
) -> None:
    decision = pipeline_for(position).decide(facts(headers={"x-switchboard-quality": knob}))
    assert decision.model_id == chosen


def test_a_higher_knob_means_a_smaller_tolerance(pipeline_for: PipelineFor) -> None:
    pipeline = pipeline_for(0.5)
    tolerances = []
    for knob in ("0", "0.2", "0.5", "0.8", "1"):
        decision = pipeline.decide(facts(headers={"x-switchboard-quality": knob}))
        assert decision.knob is not None
        tolerances.append(decision.knob.tolerance)
    assert tolerances[0] == math.inf and tolerances[-1] == 0.0
    assert tolerances == sorted(tolerances, reverse=True) and len(set(tolerances)) == 5


def test_the_alias_carries_its_knob(pipeline_for: PipelineFor) -> None:
    pipeline = pipeline_for(0.9)
    by_alias = pipeline.decide(facts("auto-economy"))
    by_header = pipeline.decide(facts(headers={"x-switchboard-quality": "0.2"}))
    assert by_alias.knob is not None and by_alias.knob.source == "alias"
    assert (by_alias.model_id, by_alias.knob.large_share) == (QWEN, 0.2)
    assert by_header.knob is not None
    assert by_alias.knob.tolerance == by_header.knob.tolerance


def test_every_candidate_is_estimated_and_unlabelled_ones_are_marked_prior(
    pipeline_for: PipelineFor,
) -> None:
    decision = pipeline_for(0.5).decide(facts())
    assert decision.estimate is not None
    assert set(decision.estimate.quality) == {SMOL, QWEN, EXTERNAL}
    assert decision.estimate.prior == (EXTERNAL,)  # the artifact has no labels for it
    assert all(0.0 < p < 1.0 for p in decision.estimate.quality.values())


def test_only_the_serving_candidates_are_estimated(pipeline_for: PipelineFor) -> None:
    request = facts(headers={"x-switchboard-local-only": "1"})
    decision = pipeline_for(0.5).decide(request)
    assert decision.estimate is not None and set(decision.estimate.quality) == {SMOL, QWEN}
    decision = pipeline_for(0.5, enabled={SMOL, QWEN}).decide(facts())
    assert decision.estimate is not None and set(decision.estimate.quality) == {SMOL, QWEN}


def test_the_scorer_weights_in_the_config_decide(pipeline_for: PipelineFor) -> None:
    best = facts(headers={"x-switchboard-quality": "1"})
    assert pipeline_for(0.9).decide(best).model_id == EXTERNAL
    cost_only = pipeline_for(0.9, config=fleet_config(scorers={"cost": 1.0}))
    decision = cost_only.decide(best)
    assert order(decision) == [SMOL, QWEN, EXTERNAL]  # quality has no say
    assert set(decision.ranked[0].scores) == {"cost"}
    heavy_cost = pipeline_for(0.9, config=fleet_config(scorers={"quality": 1.0, "cost": 5.0}))
    # Cost outweighs adequacy: the only adequate model, the dearest, goes last.
    assert order(heavy_cost.decide(best))[-1] == EXTERNAL


def test_prompt_too_long_for_the_small_model_goes_elsewhere(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.1).decide(facts(messages=[{"role": "user", "content": LONG}]))
    assert decision.model_id == QWEN
    [excluded] = decision.excluded
    assert (excluded.model_id, excluded.refusal.reason) == (SMOL, "context_window")


def test_pinned_model_still_passes_the_filters(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for().decide(facts(SMOL))
    assert (decision.model_id, decision.route, decision.estimate) == (SMOL, "pinned", None)
    with pytest.raises(RoutingRefused) as raised:
        pipeline_for().decide(facts(SMOL, messages=[{"role": "user", "content": LONG}]))
    assert raised.value.refusal.kind == "too_long"
    assert "8192" in raised.value.refusal.message  # names the model's window


def test_an_unknown_model_is_not_found(pipeline_for: PipelineFor) -> None:
    with pytest.raises(RoutingRefused) as raised:
        pipeline_for().decide(facts("gpt-9"))
    refusal = raised.value.refusal
    assert (refusal.reason, refusal.kind) == ("model_not_found", "not_found")
    assert refusal.message == "The model 'gpt-9' does not exist or you do not have access to it."


def test_nothing_left_answers_with_the_closest_models_error(pipeline_for: PipelineFor) -> None:
    # The key may use SmolLM2 only, and the prompt does not fit it: the client hears about
    # the context window (the furthest filter SmolLM2 reached), not about key policy.
    caller = Caller("small-only", KeyPolicy(allowed_models=[SMOL]))
    request = facts(caller=caller, messages=[{"role": "user", "content": LONG}])
    with pytest.raises(RoutingRefused) as raised:
        pipeline_for().decide(request)
    assert raised.value.refusal.kind == "too_long"


def test_local_only_with_tools_stays_local_or_refuses(pipeline_for: PipelineFor) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    local_only = {"x-switchboard-local-only": "1"}
    assert pipeline_for().decide(facts(tools=[tool], headers=local_only)).model_id == QWEN
    # Without the local tool model, the request is refused rather than sent out.
    caller = Caller("no-qwen", KeyPolicy(allowed_models=[SMOL, EXTERNAL]))
    with pytest.raises(RoutingRefused) as raised:
        pipeline_for().decide(facts(caller=caller, tools=[tool], headers=local_only))
    assert raised.value.refusal.reason == "tools"  # SmolLM2 got further than the provider


def test_rule_pin_is_shown_in_the_decision(pipeline_for: PipelineFor) -> None:
    rule = {"name": "code", "when": {"last_user_message_regex": "def "}, "then": {"pin": QWEN}}
    pipeline = pipeline_for(0.1, config=fleet_config(rules=[rule]))  # unpinned: SmolLM2
    decision = pipeline.decide(facts(messages=[{"role": "user", "content": "def f(): pass"}]))
    assert (decision.model_id, decision.route, decision.rules) == (QWEN, "rule", ("code",))


def test_one_candidate_left_needs_no_estimate(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.9, enabled={SMOL}).decide(facts())
    assert (decision.model_id, decision.route, decision.estimate) == (SMOL, "only-candidate", None)


def test_decision_renders_as_json(pipeline_for: PipelineFor) -> None:
    request = facts(headers={"x-switchboard-local-only": "yes"})
    decision = pipeline_for(0.95).decide(request)
    shown = json.loads(json.dumps(decision.as_dict()))
    assert shown["model"] == QWEN and shown["route"] == "classifier"
    assert shown["excluded"] == [
        {
            "model": EXTERNAL,
            "reason": "local_only",
            "detail": "This request must stay on local models; 'external' is external.",
        }
    ]
    assert [set(r) for r in shown["ranked"]] == [{"model", "quality", "cost", "total"}] * 2
    top = decision.ranked[0]
    assert shown["ranked"][0]["total"] == round(top.total, 4)
    assert top.total == pytest.approx(1.0 * top.scores["quality"] + 0.4 * top.scores["cost"])
    assert decision.estimate is not None and decision.knob is not None
    assert shown["estimate"] == {
        "quality": {m: round(p, 4) for m, p in decision.estimate.quality.items()},
        "prior": [],  # both local models are labelled
    }
    assert set(shown["estimate"]["quality"]) == {SMOL, QWEN}
    assert shown["knob"] == {
        "large_share": 0.5,
        "source": "deployment",
        "tolerance": round(decision.knob.tolerance, 4),
    }
    assert 0.0 < shown["knob"]["tolerance"] < 1.0
    assert shown["decision_ms"] > 0


def test_an_infinite_tolerance_renders_as_null(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.5).decide(facts(headers={"x-switchboard-quality": "0"}))
    assert decision.knob is not None and decision.knob.tolerance == math.inf
    text = json.dumps(decision.as_dict(), allow_nan=False)  # JSON has no Infinity
    shown = json.loads(text)
    assert shown["knob"]["tolerance"] is None
    assert set(shown["estimate"]["quality"]) == {SMOL, QWEN, EXTERNAL}
    assert shown["estimate"]["prior"] == [EXTERNAL]


def test_a_pinned_decision_renders_without_estimate_or_knob(pipeline_for: PipelineFor) -> None:
    shown = pipeline_for().decide(facts(QWEN)).as_dict()
    assert (shown["route"], shown["estimate"], shown["knob"]) == ("pinned", None, None)
    assert [r["model"] for r in shown["ranked"]] == [QWEN]


def test_a_rule_pinning_a_model_that_is_not_serving_is_unavailable(
    pipeline_for: PipelineFor,
) -> None:
    rule = {"name": "to-provider", "when": {"metadata": {"k": "v"}}, "then": {"pin": EXTERNAL}}
    pipeline = pipeline_for(config=fleet_config(rules=[rule]), enabled={SMOL, QWEN})
    with pytest.raises(RoutingRefused) as raised:
        pipeline.decide(facts(metadata={"k": "v"}))
    refusal = raised.value.refusal
    assert refusal.kind == "unavailable" and "to-provider" in refusal.message


def test_on_a_tie_the_widest_window_names_the_numbers(pipeline_for: PipelineFor) -> None:
    huge = "lorem ipsum dolor sit amet " * 7000  # over both local windows
    request = facts(
        messages=[{"role": "user", "content": huge}], headers={"x-switchboard-local-only": "1"}
    )
    with pytest.raises(RoutingRefused) as raised:
        pipeline_for().decide(request)
    assert "32768" in raised.value.refusal.message  # Qwen's window, not SmolLM2's 8192
