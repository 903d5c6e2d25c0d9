"""The shipped Grafana dashboard, checked offline: structure Grafana needs, queries that
name series Switchboard really exports, and (with promtool) PromQL that parses."""

import itertools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.dashboard_panels import (
    concrete,
    data_panels,
    load_dashboard,
    panel_queries,
    undeclared_series,
)

DASHBOARD = load_dashboard()
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_datasource_is_a_prometheus_variable() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["model"]["datasource"] == DATASOURCE


def test_ids_are_unique() -> None:
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("panel", data_panels(DASHBOARD), ids=lambda p: p["title"])
def test_every_panel_queries_the_datasource(panel: dict[str, Any]) -> None:
    assert panel["datasource"] == DATASOURCE
    assert panel["description"]  # what a planner reads from it, shown in Grafana
    assert panel["targets"]
    ref_ids = [t["refId"] for t in panel["targets"]]
    assert len(ref_ids) == len(set(ref_ids))
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert target["expr"].strip()


def test_grid_positions_fit_and_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] >= 1 and grid["h"] >= 1 and grid["x"] >= 0 and grid["y"] >= 0
        assert grid["x"] + grid["w"] <= 24, panel["title"]  # Grafana's grid is 24 wide
        for cell in itertools.product(
            range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        ):
            assert cell not in cells, f"{panel['title']} overlaps {cells[cell]}"
            cells[cell] = panel["title"]


def test_queries_name_only_series_switchboard_exports() -> None:
    assert undeclared_series([q.expr for q in panel_queries(DASHBOARD)]) == []


def test_every_planner_signal_has_a_panel() -> None:
    exprs = " ".join(q.expr for q in panel_queries(DASHBOARD))
    for signal in ("engine_running", "engine_batch_slots", "engine_waiting", "ttft_seconds",
                   "e2e_seconds", "tpot_seconds", "requests_total", "overflow_total",
                   "estimated_cost_total", "baseline_cost_total", "model_saturated",
                   "circuit_state", "decision_seconds", "engine_kv_cache_usage",
                   "engine_preemptions_total", "ttft_predicted_seconds",
                   "ttft_prediction_error_bucket", "external_spend_total",
                   "key_requests_total", "key_tokens_total",
                   "key_estimated_cost_total"):  # fmt: skip
        assert f"ray_switchboard_{signal}" in exprs, signal


def test_counters_are_rated_and_summed_over_replicas() -> None:
    """A raw counter or an unaggregated series would show one line per replica."""
    for query in panel_queries(DASHBOARD):
        if "_total" in query.expr or "_bucket" in query.expr:
            assert re.search(r"\b(rate|increase)\(", query.expr), query.title
        assert re.match(r"^(1 - )?(sum|max|histogram_quantile)\b", query.expr), query.title


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool (Debian prometheus)")
def test_every_query_parses(tmp_path: Path) -> None:
    rules = [{"record": f"panel_{q.panel_id}_{q.ref_id}", "expr": concrete(q.expr, "1m", "1h")}
             for q in panel_queries(DASHBOARD)]  # fmt: skip
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
