"""The PrometheusRule next to the PodMonitor: in every overlay, PromQL and templates that
promtool accepts, series Switchboard exports, and alerts that fire on the load they
describe and stay quiet otherwise (``promtool test rules`` on synthetic series)."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.configs import REPO
from harness.dashboard_panels import undeclared_series
from tests.k8s.manifests import Manifest, the_one

ALERTS = yaml.safe_load((REPO / "k8s" / "base" / "alerts.yaml").read_text())
RULES = [rule for group in ALERTS["spec"]["groups"] for rule in group["rules"]]
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="no promtool (Debian prometheus)"
)


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"ray_switchboard_{name}{{{labels}}}", "values": values}


def requests(outcome: str, per_minute: int) -> dict[str, str]:
    labels = f'model="smollm2-135m",route="classifier",outcome="{outcome}"'
    return series("requests_total", labels, f"0+{per_minute}x90")


def overflow(per_minute: int) -> dict[str, str]:
    labels = 'model="smollm2-135m",reason="queue",target="external"'
    return series("overflow_total", labels, f"0+{per_minute}x90")


def spend(per_minute: float) -> list[dict[str, str]]:
    return [
        series("external_spend_total", 'key="app",model="external"', f"0+{per_minute}x90"),
        series("external_budget", 'key="(deployment)",window="hour"', "10x90"),
    ]


def ttft(under_half_s: int) -> list[dict[str, str]]:
    """10 first tokens a minute, ``under_half_s`` of them within 0.5 s, all within 1 s;
    the target is 0.6 s."""
    buckets = (("0.5", under_half_s), ("1.0", 10), ("+Inf", 10))
    return [
        series("ttft_seconds_bucket", f'model="qwen",le="{le}"', f"0+{count}x90")
        for le, count in buckets
    ] + [series("ttft_target_seconds", 'model="qwen",replica="r1"', "0.6x90")]


SATURATED = 'model="qwen",replica="r1"'
CIRCUIT = 'provider="external",replica="r1"'
REJECTED = 'outcome="rejected",replica="r1"'
# (alert, input series, fires): each alert on the load it is about, and beside it.
CASES: list[tuple[str, list[dict[str, str]], bool]] = [
    ("SwitchboardErrors", [requests("ok", 90), requests("503", 10)], True),
    ("SwitchboardErrors", [requests("ok", 90), requests("stream_error", 10)], True),
    ("SwitchboardErrors", [requests("ok", 99), requests("503", 1)], False),
    ("SwitchboardRefusingForCapacity", [requests("ok", 80), requests("429", 20)], True),
    ("SwitchboardRefusingForCapacity", [requests("ok", 80), requests("400", 20)], False),
    ("SwitchboardOverflowHigh", [requests("ok", 100), overflow(60)], True),
    ("SwitchboardOverflowHigh", [requests("ok", 100), overflow(40)], False),
    ("SwitchboardModelSaturated", [series("model_saturated", SATURATED, "1x90")], True),
    (
        "SwitchboardModelSaturated",
        [series("model_saturated", SATURATED, " ".join(["1", "0"] * 45))],
        False,
    ),
    ("SwitchboardProviderCircuitOpen", [series("circuit_state", CIRCUIT, "2x90")], True),
    ("SwitchboardProviderCircuitOpen", [series("circuit_state", CIRCUIT, "1x90")], False),
    ("SwitchboardExternalSpendNearBudget", spend(0.2), True),  # 12 an hour, of 10
    ("SwitchboardExternalSpendNearBudget", spend(0.1), False),  # 6 an hour
    ("SwitchboardTtftOverTarget", ttft(under_half_s=0), True),  # p95 ~0.97 s
    ("SwitchboardTtftOverTarget", ttft(under_half_s=10), False),  # p95 ~0.49 s
    ("SwitchboardPolicyRejected", [series("policy_updates_total", REJECTED, "0x70 1x20")], True),
    ("SwitchboardPolicyRejected", [series("policy_updates_total", REJECTED, "0x40 1x50")], False),
]


def test_every_overlay_ships_the_rules_beside_the_podmonitor(manifests: list[Manifest]) -> None:
    rule = the_one(manifests, "PrometheusRule")
    monitor = the_one(manifests, "PodMonitor")
    assert rule["spec"] == ALERTS["spec"]
    assert rule["metadata"]["labels"] == monitor["metadata"]["labels"]


def test_rules_name_only_series_switchboard_exports() -> None:
    assert undeclared_series([rule["expr"] for rule in RULES]) == []


def test_every_alert_is_explained_and_has_a_case() -> None:
    for rule in RULES:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert {rule["alert"] for rule in RULES} == {alert for alert, _, _ in CASES}


@needs_promtool
def test_promtool_accepts_the_rules_and_their_templates(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": ALERTS["spec"]["groups"]}))
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
@pytest.mark.parametrize(("alert", "series", "fires"), CASES)
def test_the_alert_fires_on_its_load_only(
    tmp_path: Path, alert: str, series: list[dict[str, str]], fires: bool
) -> None:
    [rule] = [r for r in RULES if r["alert"] == alert]
    # Annotations are templated from the value; the firing is what is under test here.
    bare = {key: value for key, value in rule.items() if key != "annotations"}
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "t", "rules": [bare]}]})
    )
    expected: list[dict[str, Any]] = [{"exp_labels": _labels(rule, series)}] if fires else []
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": "80m", "alertname": alert, "exp_alerts": expected}],
        }],
    }  # fmt: skip
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    tested = _promtool("test", "rules", str(tmp_path / "test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _labels(rule: dict[str, Any], series: list[dict[str, str]]) -> dict[str, str]:
    """The alert's labels: its own, plus what its expression keeps (a `by` label)."""
    labels = dict(rule["labels"])
    for kept in ("model", "provider"):
        if f"by ({kept})" in rule["expr"] or f"by ({kept}, le)" in rule["expr"]:
            labels[kept] = series[0]["series"].split(f'{kept}="')[1].split('"')[0]
    return labels


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
