"""The whole decision on the default fleet: real tokenizers, real embedder, a classifier
whose artifact fixes P(small suffices)."""

import json

import pytest

from router.auth import Caller
from router.errors import ApiError, ModelNotFound
from router.policy_config import KeyPolicy
from tests.unit.router.routing.conftest import (
    EXTERNAL,
    QWEN,
    SMOL,
    PipelineFor,
    facts,
    fleet_config,
)

LONG = "lorem ipsum dolor sit amet " * 1800  # ~9,000 SmolLM2 tokens: over its 8,192


def test_confident_small_estimate_routes_small(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.9).decide(facts())
    assert decision.model_id == SMOL and decision.route == "classifier"
    assert [r.model_id for r in decision.ranked] == [SMOL, QWEN, EXTERNAL]
    assert decision.estimate is not None and decision.estimate.small_suffices == pytest.approx(0.9)
    assert decision.knob is not None and decision.knob.source == "deployment"


def test_doubtful_estimate_routes_large(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.3).decide(facts())
    assert decision.model_id == QWEN
    assert [r.model_id for r in decision.ranked] == [QWEN, EXTERNAL, SMOL]


def test_the_knob_moves_the_threshold(pipeline_for: PipelineFor) -> None:
    pipeline = pipeline_for(0.3)  # uniform calibration: the threshold is the share
    assert pipeline.decide(facts("auto-economy")).model_id == SMOL  # 0.3 >= 0.2
    assert pipeline.decide(facts(headers={"x-switchboard-quality": "0.1"})).model_id == SMOL
    assert pipeline.decide(facts(headers={"x-switchboard-quality": "quality"})).model_id == QWEN


def test_prompt_too_long_for_the_small_model_goes_elsewhere(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.9).decide(facts(messages=[{"role": "user", "content": LONG}]))
    assert decision.model_id == QWEN
    [excluded] = decision.excluded
    assert (excluded.model_id, excluded.reason) == (SMOL, "context_window")


def test_pinned_model_still_passes_the_filters(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for().decide(facts(SMOL))
    assert (decision.model_id, decision.route, decision.estimate) == (SMOL, "pinned", None)
    with pytest.raises(ApiError) as raised:
        pipeline_for().decide(facts(SMOL, messages=[{"role": "user", "content": LONG}]))
    assert raised.value.code == "context_length_exceeded"
    assert "8192" in raised.value.message  # names the model's window


def test_unknown_model_is_404(pipeline_for: PipelineFor) -> None:
    with pytest.raises(ModelNotFound):
        pipeline_for().decide(facts("gpt-9"))


def test_nothing_left_answers_with_the_closest_models_error(pipeline_for: PipelineFor) -> None:
    # The key may use SmolLM2 only, and the prompt does not fit it: the client hears about
    # the context window (the furthest filter SmolLM2 reached), not about key policy.
    caller = Caller("small-only", KeyPolicy(allowed_models=[SMOL]))
    request = facts(caller=caller, messages=[{"role": "user", "content": LONG}])
    with pytest.raises(ApiError) as raised:
        pipeline_for().decide(request)
    assert raised.value.code == "context_length_exceeded"


def test_local_only_with_tools_refuses_instead_of_leaving(pipeline_for: PipelineFor) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    request = facts(tools=[tool], headers={"x-switchboard-local-only": "1"})
    with pytest.raises(ApiError) as raised:
        pipeline_for().decide(request)
    assert raised.value.param == "tools"  # local models got further than the provider
    assert pipeline_for().decide(facts(tools=[tool])).model_id == EXTERNAL


def test_rule_pin_is_shown_in_the_decision(pipeline_for: PipelineFor) -> None:
    rule = {"name": "code", "when": {"last_user_message_regex": "def "}, "then": {"pin": QWEN}}
    pipeline = pipeline_for(0.99, config=fleet_config(rules=[rule]))
    decision = pipeline.decide(facts(messages=[{"role": "user", "content": "def f(): pass"}]))
    assert (decision.model_id, decision.route, decision.rules) == (QWEN, "rule", ("code",))


def test_one_candidate_left_needs_no_estimate(pipeline_for: PipelineFor) -> None:
    decision = pipeline_for(0.9, enabled={SMOL}).decide(facts())
    assert (decision.model_id, decision.route, decision.estimate) == (SMOL, "only-candidate", None)


def test_decision_renders_as_json(pipeline_for: PipelineFor) -> None:
    request = facts(headers={"x-switchboard-local-only": "yes"})
    shown = json.loads(json.dumps(pipeline_for(0.3).decide(request).as_dict()))
    assert shown["model"] == QWEN and shown["route"] == "classifier"
    assert shown["excluded"] == [
        {
            "model": EXTERNAL,
            "reason": "local_only",
            "detail": "This request must stay on local models; 'external' is external.",
        }
    ]
    assert {"model", "quality", "cost"} <= set(shown["ranked"][0])
    assert shown["estimate"]["category"] in ("code", "math")
    assert shown["knob"]["threshold"] == pytest.approx(0.5)
    assert shown["decision_ms"] > 0


def test_a_rule_pinning_a_model_that_is_not_serving_is_503(pipeline_for: PipelineFor) -> None:
    rule = {"name": "to-provider", "when": {"metadata": {"k": "v"}}, "then": {"pin": EXTERNAL}}
    pipeline = pipeline_for(config=fleet_config(rules=[rule]), enabled={SMOL, QWEN})
    with pytest.raises(ApiError) as raised:
        pipeline.decide(facts(metadata={"k": "v"}))
    assert raised.value.status == 503 and "to-provider" in raised.value.message


def test_a_bad_knob_is_refused_even_with_one_candidate(pipeline_for: PipelineFor) -> None:
    with pytest.raises(ApiError) as raised:
        pipeline_for(enabled={SMOL}).decide(facts(headers={"x-switchboard-quality": "max"}))
    assert raised.value.status == 400


def test_on_a_tie_the_widest_window_names_the_numbers(pipeline_for: PipelineFor) -> None:
    huge = "lorem ipsum dolor sit amet " * 7000  # over both local windows
    request = facts(
        messages=[{"role": "user", "content": huge}], headers={"x-switchboard-local-only": "1"}
    )
    with pytest.raises(ApiError) as raised:
        pipeline_for().decide(request)
    assert "32768" in raised.value.message  # Qwen's window, not SmolLM2's 8192
