"""``switchboard route``: the served pipeline, offline, one decision per input line."""

import io
import json

import pytest

from router.cli import main
from tests.builders import REPO

CONFIG = str(REPO / "models.yaml")


def route(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["route", "--config", CONFIG, *args])
    return code, capsys.readouterr().out


def test_one_prompt_prints_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = route(capsys, "What is 2+2?", "--header", "x-switchboard-quality: 0")
    assert code == 0
    assert out.startswith("model: smollm2-135m  (route: classifier,")
    assert "estimate:" in out and "ranked:" in out


def test_json_lines_in_one_decision_per_line_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        {"model": "auto", "messages": [{"role": "user", "content": "Sort [3, 1, 2] in Python."}]},
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4000},
        {"model": "smollm2-135m", "messages": [{"role": "user", "content": "hi"}],
         "max_tokens": 9000},
        {"model": "auto"},
    ]  # fmt: skip
    stdin = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code, out = route(capsys, "-", "--json")
    assert code == 0
    first, too_long, pinned_too_long, no_messages, not_json = map(json.loads, out.splitlines())
    assert {"model", "ranked", "excluded", "estimate", "decision_ms"} <= set(first)
    assert 0.0 <= first["estimate"]["small_suffices"] <= 1.0 and first["estimate"]["category"]
    assert too_long["model"] == "qwen2.5-coder-0.5b"  # SmolLM2 caps max_tokens at 2048
    assert too_long["excluded"][0]["reason"] == "context_window"
    assert pinned_too_long["error"]["code"] == "context_length_exceeded"
    assert "messages" in no_messages["error"]["message"]
    assert not_json["error"]["type"] == "invalid_request_error"


def test_a_key_name_applies_its_policy_and_rules(capsys: pytest.CaptureFixture[str]) -> None:
    # models.yaml: key `nightly-batch` is in group `batch`, whose rule sets `economy`.
    code, out = route(capsys, "hello", "--json", "--key-name", "nightly-batch")
    decision = json.loads(out)
    assert code == 0 and decision["rules"] == ["batch-stays-local"]
    assert decision["knob"]["source"] == "rule:batch-stays-local"
