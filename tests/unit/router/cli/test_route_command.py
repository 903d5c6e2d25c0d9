"""``switchboard route``: the served pipeline, offline, one decision per input line."""

import io
import json
from collections.abc import Callable

import pytest

from harness.configs import default_fleet_raw, write_config
from router.cli.main import main

SMOL, QWEN = "smollm2-135m", "qwen2.5-coder-0.5b"
Route = Callable[..., tuple[int, str]]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    """models.yaml as shipped (its predictor: the shipped artifact)."""
    return str(write_config(tmp_path_factory.mktemp("route") / "models.yaml", default_fleet_raw()))


@pytest.fixture
def route(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Route:
    """``route(*args)``: exit code and stdout; the provider is off (local models only)."""
    monkeypatch.delenv("SWITCHBOARD_EXTERNAL_BASE_URL", raising=False)

    def run(*args: str) -> tuple[int, str]:
        code = main(["route", "--config", config, *args])
        return code, capsys.readouterr().out

    return run


def test_one_prompt_prints_the_decision(route: Route) -> None:
    code, out = route("What is 2+2?", "--header", "x-switchboard-quality: 0")
    assert code == 0
    assert out.startswith(f"model: {SMOL}  (route: classifier,")  # knob 0: the cheapest
    assert "estimate:" in out and "ranked:" in out
    estimate = json.loads(out.split("estimate: ")[1].splitlines()[0])
    assert set(estimate["quality"]) == {SMOL, QWEN}
    code, out = route("What is 2+2?", "--header", "x-switchboard-quality: 1")
    assert code == 0 and out.startswith(f"model: {QWEN}  (route: classifier,")  # the best


def test_json_lines_in_one_decision_per_line_out(
    route: Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        {"model": "auto", "messages": [{"role": "user", "content": "Sort [3, 1, 2] in Python."}]},
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4000},
        {"model": SMOL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9000},
        {"model": "auto"},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code, out = route("-", "--json")
    assert code == 0
    first, too_long, pinned_too_long, no_messages, not_json = map(json.loads, out.splitlines())
    assert {"model", "ranked", "excluded", "estimate", "knob", "decision_ms"} <= set(first)
    assert set(first["estimate"]["quality"]) == {SMOL, QWEN}
    assert all(0.0 < p < 1.0 for p in first["estimate"]["quality"].values())
    assert first["estimate"]["prior"] == []  # the default fleet's models are labelled
    assert first["knob"]["large_share"] == 0.5 and first["knob"]["tolerance"] >= 0.0
    assert [set(r) for r in first["ranked"]] == [{"model", "quality", "cost", "total"}] * 2
    assert too_long["model"] == QWEN  # SmolLM2 caps max_tokens at 2048
    assert (too_long["route"], too_long["estimate"]) == ("only-candidate", None)
    assert too_long["excluded"][0]["reason"] == "context_window"
    assert pinned_too_long["error"]["code"] == "context_length_exceeded"
    assert "messages" in no_messages["error"]["message"]
    assert not_json["error"]["type"] == "invalid_request_error"


def test_a_key_name_applies_its_policy_and_rules(route: Route) -> None:
    # models.yaml: key `nightly-batch` is in group `batch`, whose rule sets `economy`.
    code, out = route("hello", "--json", "--key-name", "nightly-batch")
    decision = json.loads(out)
    assert code == 0 and decision["rules"] == ["batch-stays-local"]
    assert decision["knob"]["source"] == "rule:batch-stays-local"
    assert decision["knob"]["large_share"] == 0.2
