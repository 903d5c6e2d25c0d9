"""The shipped Grafana dashboard's panels and their PromQL, made concrete for a plain
Prometheus (what Grafana substitutes before it sends a query); which series PromQL names
that Switchboard does not export."""

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.configs import REPO

DASHBOARD = REPO / "k8s" / "dashboards" / "switchboard.json"
_DECLARATIONS = (REPO / "router" / "metrics" / "router_metrics.py", REPO / "serving" / "metrics.py")


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int
    title: str
    ref_id: str
    expr: str
    legend: str


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries (rows only group them)."""
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(p["id"], p["title"], t["refId"], t["expr"], t.get("legendFormat", ""))
        for p in data_panels(dashboard)
        for t in p["targets"]
    ]


def concrete(expr: str, rate_interval: str, range_: str) -> str:
    """Grafana's variables as Grafana would fill them: every model, the given windows."""
    filled = (
        expr.replace("$__rate_interval", rate_interval)
        .replace("$__range", range_)
        .replace("$model", ".*")
    )
    leftover = re.search(r"\$\w+", filled)
    if leftover:
        raise ValueError(f"unsubstituted variable {leftover.group()} in {expr!r}")
    return filled


def legend(legend_format: str, labels: dict[str, str]) -> str:
    """A series' name from Grafana's ``{{label}}`` legend format ("" for an empty format)."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend_format)


def finite_points(series: list[dict[str, Any]]) -> int:
    """Points that are numbers (``histogram_quantile`` over an idle window gives NaN)."""
    values = [v for s in series for _, v in s.get("values", [s.get("value", (0, "NaN"))])]
    return sum(math.isfinite(float(v)) for v in values)


def undeclared_series(exprs: list[str]) -> list[str]:
    """The ``ray_switchboard_*`` series these queries name that no metric declares."""
    declared = "".join(path.read_text() for path in _DECLARATIONS)
    named = {n for expr in exprs for n in re.findall(r"ray_(switchboard_\w+)", expr)}
    return sorted(n for n in named if f'"{re.sub(r"_(bucket|total)$", "", n)}"' not in declared)
