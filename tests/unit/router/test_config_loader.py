from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.configs import MODELS_YAML, default_fleet_raw
from router.config_errors import ConfigError
from router.config_loader import check_weights, load_config, parse_config, parse_live_policy
from router.training.labels import LABEL_FLEET
from serving.weights import default_models_dir

MINILM = "all-minilm-l6-v2"


def problems_of(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="test.yaml")
    return [str(problem) for problem in info.value.problems]


def test_repo_models_yaml_is_valid() -> None:
    config = load_config(MODELS_YAML)
    assert [m.id for m in config.models] == ["smollm2-135m", "qwen2.5-coder-0.5b", MINILM]
    assert [m.task for m in config.models] == ["generate", "generate", "embed"]
    assert config.router.aliases["auto-economy"] == "economy"
    assert [p.id for p in config.external_providers] == ["external"]
    assert config.models[1].weights.source == "packaged_gguf"


def test_one_engine_for_the_whole_fleet_keeps_each_models_settings() -> None:
    """`serve --engine transformers`: the fleet file's own engine is vLLM's CPU build for
    the models that generate (the embedding model's is transformers either way)."""
    fleet = load_config(MODELS_YAML).models
    assert {m.engine for m in fleet if m.task == "generate"} == {"vllm"}
    config = load_config(MODELS_YAML, engine="transformers")
    assert {m.engine for m in config.models} == {"transformers"}
    qwen = config.local_model("qwen2.5-coder-0.5b")
    assert qwen is not None and qwen.transformers.tool_parser == "hermes"


def test_unknown_key_names_the_path_and_suggests_the_spelling() -> None:
    raw = default_fleet_raw()
    raw["models"][1]["context_windw"] = 4096
    [problem] = [p for p in problems_of(raw) if "context_windw" in p]
    assert problem.startswith("models[1].context_windw: unknown key 'context_windw'")
    assert "did you mean 'context_window'?" in problem


def test_unknown_key_inside_a_tagged_union_lists_the_allowed_keys() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["weights"]["zzz"] = 1
    [problem] = problems_of(raw)
    assert problem.startswith("models[0].weights.packaged_gguf.zzz: unknown key")
    assert "parts" in problem and "sha256" in problem


def test_wrong_type_names_the_field() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["context_window"] = "big"
    [problem] = problems_of(raw)
    assert problem.startswith("models[0].context_window: Input should be a valid integer")
    assert "hint: write a whole number" in problem


def test_missing_required_key() -> None:
    raw = default_fleet_raw()
    del raw["models"][0]["cost"]
    assert problems_of(raw) == ["models[0].cost: Field required (hint: add this required key)"]
    raw = default_fleet_raw()
    del raw["models"][0]["quality_tier"]  # required of a model that generates
    [problem] = problems_of(raw)
    assert problem.startswith("models[0]: quality_tier: a model that generates needs one")


def test_embedding_models_are_checked_as_such() -> None:
    raw = default_fleet_raw()
    raw["models"][2]["quality_tier"] = 3
    assert problems_of(raw) == [
        "models[2]: quality_tier: an embedding model is never ranked: remove it "
        "(hint: see the configuration reference in README.md)"
    ]
    raw = default_fleet_raw()
    raw["models"][2]["max_output_tokens"] = 16
    [problem] = problems_of(raw)
    assert "an embedding model generates no output" in problem
    raw = default_fleet_raw()
    raw["router"]["rules"] = [
        {"name": "vectors", "when": {"key_names": ["a"]}, "then": {"restrict_to": [MINILM]}}
    ]
    [problem] = problems_of(raw)
    assert f"router.rules[vectors].then.restrict_to: '{MINILM}' is an embedding model" in problem
    raw = default_fleet_raw()
    raw["models"], raw["external_providers"] = [raw["models"][2]], []
    [problem] = problems_of(raw)
    assert "at least one local model must generate" in problem


def test_duplicate_model_id() -> None:
    raw = default_fleet_raw()
    raw["models"][1]["id"] = raw["models"][0]["id"]
    [problem] = problems_of(raw)
    assert "duplicate model id 'smollm2-135m'" in problem


def test_impossible_numbers() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["max_output_tokens"] = 9000  # context_window is 8192
    raw["models"][1]["deployment"]["max_ongoing_requests"] = 0
    found = problems_of(raw)
    assert any(
        p.startswith("models[0]: max_output_tokens (9000) must be smaller than context_window")
        for p in found
    )
    assert any(
        p.startswith("models[1].deployment.max_ongoing_requests: Input should be greater")
        and "allowed range" in p
        for p in found
    )


def test_rules_and_key_policies_name_declared_models() -> None:
    raw = default_fleet_raw()
    raw["router"]["rules"] = [
        {"name": "code", "when": {"last_user_message_regex": "def "}, "then": {"pin": "gpt-9"}}
    ]
    [problem] = problems_of(raw)
    assert "router.rules[code].then.pin: 'gpt-9' is not a declared model id" in problem
    raw = default_fleet_raw()
    raw["auth"]["keys"] = {"batch": {"allowed_models": ["smollm2-135m", "llama-99"]}}
    [problem] = problems_of(raw)
    assert "auth.keys.batch.allowed_models: 'llama-99' is not a declared model id" in problem


def test_knobs_name_known_presets() -> None:
    raw = default_fleet_raw()
    raw["router"]["aliases"] = {"auto": None, "auto-cheap": "cheapest"}
    [problem] = problems_of(raw)
    assert "router.aliases.auto-cheap: unknown preset 'cheapest'" in problem
    assert "economy" in problem  # the hint lists the presets


def test_rule_regex_must_compile() -> None:
    raw = default_fleet_raw()
    raw["router"]["rules"] = [
        {"name": "bad", "when": {"last_user_message_regex": "(unclosed"}, "then": {"knob": 0.5}}
    ]
    [problem] = problems_of(raw)
    assert "last_user_message_regex" in problem and "not a valid regular expression" in problem


def test_alias_may_not_shadow_a_model_id() -> None:
    raw = default_fleet_raw()
    raw["router"]["aliases"] = {"auto": None, "smollm2-135m": "economy"}
    [problem] = problems_of(raw)
    assert "'smollm2-135m' is already a model id" in problem


def test_every_problem_is_reported_at_once() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["context_window"] = -1
    raw["models"][1]["cost"]["input_per_mtok"] = -3
    raw["router"]["colour"] = "blue"
    assert len(problems_of(raw)) == 3


def test_broken_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("router:\n  default_model: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].location.startswith("line ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="check the path"):
        load_config(tmp_path / "nope.yaml")


def test_missing_weights_stop_start_up_with_the_prepare_hint(tmp_path: Path) -> None:
    config = load_config(MODELS_YAML)
    with pytest.raises(ConfigError) as info:
        check_weights(config, tmp_path, source="models.yaml")
    locations = [p.location for p in info.value.problems]
    assert locations == ["models[0].weights", "models[1].weights"]
    assert "switchboard models prepare" in str(info.value)


def test_folder_weights_must_exist(tmp_path: Path) -> None:
    raw = default_fleet_raw()
    raw["models"] = raw["models"][:1]
    raw["external_providers"] = []
    raw["models"][0]["weights"] = {"source": "folder", "path": str(tmp_path / "absent")}
    config = parse_config(yaml.safe_load(yaml.safe_dump(raw)))
    with pytest.raises(ConfigError, match=r"models\[0\]\.weights"):
        check_weights(config, tmp_path, source="x")


def test_context_window_beyond_the_model_stops_start_up() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["context_window"] = 100_000  # SmolLM2 was built for 8192
    config = parse_config(raw)
    with pytest.raises(ConfigError) as info:
        check_weights(config, default_models_dir(), source="models.yaml")
    [problem] = info.value.problems
    assert problem.location == "models[0].context_window"
    assert "supports (8192" in problem.message and "at most 8192" in problem.hint


def test_autoscaling_bounds_must_be_ordered() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["deployment"]["autoscaling"] = {"min_replicas": 3, "max_replicas": 2}
    [problem] = problems_of(raw)
    assert "min_replicas (3) exceeds max_replicas (2)" in problem


def test_tensor_parallelism_needs_as_many_gpus() -> None:
    raw = default_fleet_raw()
    raw["models"][1]["engine"] = "vllm"
    raw["models"][1]["vllm"] = {"tensor_parallel_size": 2}
    [problem] = problems_of(raw)
    assert "tensor_parallel_size 2 needs deployment.num_gpus: 2" in problem


def test_capabilities_the_engine_cannot_honour_are_refused() -> None:
    raw = default_fleet_raw()
    raw["models"][1]["vision"] = True
    [problem] = problems_of(raw)
    assert "no local engine serves image input" in problem


def test_the_labelling_fleet_serves_the_default_fleets_weights() -> None:
    """Labels must come from the very models that serve: same ids, same weight hashes."""
    labelling = load_config(LABEL_FLEET)
    served = [m for m in load_config(MODELS_YAML).models if m.task == "generate"]
    assert {m.id: m.weights for m in labelling.models} == {m.id: m.weights for m in served}
    assert all(m.engine == "vllm" for m in labelling.models)


def test_rule_names_are_unique_and_rules_say_something() -> None:
    raw = default_fleet_raw()
    rule = {"name": "same", "when": {"key_groups": ["a"]}, "then": {"knob": 0.5}}
    raw["router"]["rules"] = [rule, rule]
    [problem] = problems_of(raw)
    assert "rule names must be unique" in problem
    raw["router"]["rules"] = [{"name": "empty", "when": {"metadata": {}}, "then": {"knob": 0.5}}]
    assert any("at least one non-empty condition" in p for p in problems_of(raw))
    raw["router"]["rules"] = [{"name": "idle", "when": {"key_groups": ["a"]},
                               "then": {"forbid_external": False}}]  # fmt: skip
    assert any("at least one action" in p for p in problems_of(raw))


def test_scorer_weights_default_and_are_checked_against_the_registry() -> None:
    assert load_config(MODELS_YAML).router.scorers == {"quality": 1.0, "cost": 0.4}
    raw = default_fleet_raw()
    del raw["router"]["scorers"]
    assert parse_config(raw).router.scorers == {"quality": 1.0, "cost": 0.4}
    raw["router"]["scorers"] = {"quality": 1.0, "latency": 0.5}
    [problem] = problems_of(raw)
    assert problem.startswith("router.scorers")
    assert "unknown scorer(s) ['latency']" in problem and "known: cost, quality" in problem
    raw["router"]["scorers"] = {"quality": 1.0, "cost": -0.1}
    [problem] = problems_of(raw)
    assert problem.startswith("router.scorers.cost")


def test_the_removed_small_max_tier_is_refused() -> None:
    raw = default_fleet_raw()
    raw["router"]["classifier"] = {"small_max_tier": 1}
    [problem] = problems_of(raw)
    assert "router.classifier.small_max_tier: unknown key" in problem


def test_a_ttft_target_is_seconds_or_auto() -> None:
    raw = default_fleet_raw()
    raw["models"][0]["saturation"] = {"ttft_target_s": "auto"}
    assert parse_config(raw).models[0].saturation.ttft_target_s == "auto"
    raw["models"][0]["saturation"] = {"ttft_target_s": "fast"}
    raw["models"][1]["saturation"] = {"ttft_target_s": -1}
    found = problems_of(raw)
    assert any(p.startswith("models[0].saturation.ttft_target_s") for p in found), found
    assert any(p.startswith("models[1].saturation.ttft_target_s") for p in found), found


def test_a_live_policy_replaces_the_fleets_and_is_checked_against_it() -> None:
    fleet = load_config(MODELS_YAML)
    live = {
        "policy": {"default": "quality"},
        "rules": [{"name": "code", "when": {"key_names": ["ci"]}, "then": {"knob": 0.9}}],
        "keys": {"ci": {"requests_per_minute": 3}},
    }
    config = parse_live_policy(live, fleet, source="user_config")
    assert config.router.policy.default == "quality"
    assert [rule.name for rule in config.router.rules] == ["code"]  # replaced, not merged
    assert list(config.auth.keys) == ["ci"]
    assert config.router.aliases == fleet.router.aliases  # not given: the defaults
    assert config.fleet_dump() == fleet.fleet_dump()
    assert config.with_live_policy(fleet.live_policy()) == fleet


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        ({"rules": [{"name": "x", "when": {"key_names": ["a"]}, "then": {"pin": "gpt-9"}}]},
         "router.rules[x].then.pin: 'gpt-9' is not a declared model id"),
        ({"keys": {"a": {"knob": "cheapest"}}}, "auth.keys.a.knob: unknown preset 'cheapest'"),
        ({"keys": {"a": {"rpm": 3}}}, "keys.a.rpm: unknown key 'rpm'"),
        ({"models": []}, "models: unknown key 'models'"),  # the fleet is not live
    ],
)  # fmt: skip
def test_a_live_policy_that_does_not_fit_names_the_problem(
    live: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_live_policy(live, load_config(MODELS_YAML), source="user_config")
    assert expected in str(raised.value) and "user_config" in str(raised.value)
