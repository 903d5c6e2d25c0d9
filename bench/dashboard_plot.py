"""Draw the dashboard's panels from real ``query_range`` results: one PNG per dashboard
row, three panels a line, time in seconds since the load began, the load phases marked.
No styling beyond Grafana's units. ``python -m bench.dashboard_plot`` redraws from
``docs/dashboard/results.json`` (what ``bench.dashboard`` recorded).
"""

import json
import math
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from harness.dashboard_panels import legend, load_dashboard

COLUMNS = 3
# Grafana unit -> (scale, axis label)
UNITS = {"percentunit": (100.0, "%"), "s": (1000.0, "ms"), "reqps": (1.0, "req/s"),
         "currencyUSD": (1.0, "USD/h"), "short": (1.0, "")}  # fmt: skip


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def rows(dashboard: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    grouped: list[tuple[str, list[dict[str, Any]]]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            grouped.append((panel["title"], []))
        else:
            grouped[-1][1].append(panel)
    return grouped


def draw_rows(
    dashboard: dict[str, Any], results: list[dict[str, Any]], phases: list[dict[str, Any]],
    out: Path,
) -> list[Path]:  # fmt: skip
    t0 = phases[0]["start"]
    written = []
    for title, panels in rows(dashboard):
        lines = math.ceil(len(panels) / COLUMNS)
        fig, axes = plt.subplots(lines, COLUMNS, figsize=(4.4 * COLUMNS, 3.0 * lines), dpi=72,
                                 squeeze=False)  # fmt: skip
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        for ax, panel in zip(axes.flat, panels, strict=False):
            mine = [r for r in results if r["panel_id"] == panel["id"]]
            draw_panel(ax, panel, mine, t0)
            mark_phases(ax, phases, t0)
        fig.suptitle(title, fontsize=11, x=0.01, ha="left")
        fig.tight_layout()
        path = out / f"{slug(title)}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def draw_panel(ax: Any, panel: dict[str, Any], results: list[dict[str, Any]], t0: float) -> None:
    scale, label = UNITS.get(panel["fieldConfig"]["defaults"].get("unit", "short"), (1.0, ""))
    for result in results:
        for series in result["series"]:
            times = [float(t) - t0 for t, _ in series["values"]]
            values = [float(v) * scale for _, v in series["values"]]
            name = legend(result["legend"], series["metric"]) or result["ref_id"]
            ax.plot(times, values, linewidth=1.2, label=name[:28])
    ax.set_title(panel["title"], fontsize=9)
    ax.set_xlabel("s since load began", fontsize=7)
    ax.set_ylabel(label, fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")


def mark_phases(ax: Any, phases: list[dict[str, Any]], t0: float) -> None:
    for phase in phases:
        start = phase["start"] - t0
        ax.axvline(start, color="grey", linewidth=0.6, linestyle=":")
        ax.annotate(f"{phase['rate_per_s']:g}/s", (start, 1), xycoords=("data", "axes fraction"),
                    fontsize=6, color="grey", va="top")  # fmt: skip


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "docs" / "dashboard"
    recorded = json.loads((out / "results.json").read_text())
    for path in draw_rows(load_dashboard(), recorded["queries"], recorded["phases"], out):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
