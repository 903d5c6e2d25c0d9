"""The generalisation report, in three files named ``routing_eval_<YYYYMMDD>``: ``.json``
(every number, the curves, provenance and the command), ``.md`` (written from that JSON,
for people) and ``.png`` (the pooled cost-quality curves)."""

import datetime
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from router.training.evaluate import RouterResult
from router.training.generalisation import SourceResult
from router.training.labels import LabelledPrompt
from router.training.sources.catalog import LICENCES

CURVE_GRID = np.linspace(0.0, 1.0, 21)  # shares to the strong model written out per router
_TABLE_SHARES = (0.2, 0.5, 0.8)


def write_report(
    results: Sequence[SourceResult],
    records: Sequence[LabelledPrompt],
    provenance: dict[str, Any],
    command: str,
    report_dir: Path,
    day: datetime.date | None = None,
) -> tuple[Path, Path, Path]:
    """Write the three files and return their paths (json, md, png)."""
    day = day or datetime.date.today()
    stem = report_dir / f"routing_eval_{day:%Y%m%d}"
    report_dir.mkdir(parents=True, exist_ok=True)
    data = report_data(results, records, provenance, command, day)
    json_path, md_path, png_path = (stem.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(report_markdown(data, png_path.name))
    _plot(results[0], png_path)
    return json_path, md_path, png_path


def report_data(
    results: Sequence[SourceResult],
    records: Sequence[LabelledPrompt],
    provenance: dict[str, Any],
    command: str,
    day: datetime.date,
) -> dict[str, Any]:
    """Every reported number, rounded to 4 places; NaN (undefined) becomes null."""
    return {
        "date": day.isoformat(),
        "command": command,
        "provenance": provenance,
        "data": _data_summary(records),
        "leave_one_source_out": [_source_data(r) for r in results],
    }


def _data_summary(records: Sequence[LabelledPrompt]) -> dict[str, Any]:
    models = sorted({m for r in records for m in r.answers})
    return {
        "prompts": len(records),
        "tasks": len({(r.source, r.task) for r in records}),
        "by_source": dict(sorted(Counter(r.source for r in records).items())),
        "by_category": dict(sorted(Counter(r.category for r in records).items())),
        "by_grader": dict(sorted(Counter(r.prompt.grader for r in records).items())),
        "licences": {s: LICENCES.get(s, "user data") for s in sorted({r.source for r in records})},
        "accuracy": {m: _number(float(np.mean([r.correct(m) for r in records]))) for m in models},
    }


def _source_data(result: SourceResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "prompts": result.prompts,
        "weak_accuracy": _number(result.weak_accuracy),
        "strong_accuracy": _number(result.strong_accuracy),
        "routers": {name: _router_data(r) for name, r in result.routers.items()},
    }


def _router_data(result: RouterResult) -> dict[str, Any]:
    """APGR, CPT and the curve at ``CURVE_GRID`` (linear between exact points)."""
    quality = np.interp(CURVE_GRID, result.curve.shares, result.curve.quality)
    return {
        "apgr": _number(result.apgr),
        **{f"cpt_{round(100 * t)}": _number(c) for t, c in result.cpt.items()},
        "curve": [
            {"share_to_strong": _number(s), "quality": _number(q)}
            for s, q in zip(CURVE_GRID, quality, strict=True)
        ],
    }


def report_markdown(data: dict[str, Any], plot_name: str) -> str:
    pooled, *sources = data["leave_one_source_out"]
    names = list(pooled["routers"])
    lines = [
        f"# Routing quality predictor: leave-one-source-out evaluation, {data['date']}",
        "",
        _method(data),
        "",
        f"## Pooled over every held-out source ({pooled['prompts']} prompts): the headline",
        "",
        "| router | APGR | CPT(50%) | CPT(80%) | "
        + " | ".join(f"quality at {round(100 * s)}% strong" for s in _TABLE_SHARES)
        + " |",
        "|---" * (4 + len(_TABLE_SHARES)) + "|",
        *(_router_row(name, r) for name, r in pooled["routers"].items()),
        "",
        "## Per held-out source (APGR; CPT(50%) of the predictor)",
        "",
        "| source | prompts | weak acc. | strong acc. | "
        + " | ".join(names)
        + " | predictor CPT(50%) |",
        "|---" * (5 + len(names)) + "|",
        *(_source_row(s, names) for s in [pooled, *sources]),
        "",
        f"![pooled cost-quality curves]({plot_name})",
        "",
        f"Command: `{data['command']}`",
    ]
    return "\n".join(lines) + "\n"


def _method(data: dict[str, Any]) -> str:
    d, p = data["data"], data["provenance"]
    return (
        f"**Data.** {d['prompts']} prompts from {d['tasks']} tasks of "
        f"{len(d['by_source'])} source packages ({_counts(d['by_source'])}); categories: "
        f"{_counts(d['by_category'])}; graders: {_counts(d['by_grader'])}. Licences: "
        + "; ".join(f"{s}: {lic}" for s, lic in d["licences"].items())
        + ". Each prompt was answered greedily by every fleet model with room to finish "
        "(256 tokens, 512 for code and math) and graded deterministically (code by "
        "running its tests). Accuracy: "
        + ", ".join(f"{m} {a}" for m, a in d["accuracy"].items())
        + f". Labelling took {_hours(p.get('label_hours'))} h of CPU (vLLM's CPU build, 2 "
        f"cores).\n\n**Method.** Encoder: {p.get('encoder')}. For each source, a predictor "
        "is trained on the other sources only (L2 strength chosen by grouped "
        "cross-validation inside them) and ranks that source's prompts by predicted "
        "P(strong acceptable) - P(weak acceptable). Metrics follow RouteLLM (arXiv "
        "2406.18665): quality = mean correctness of the routed answers; PGR = (quality - "
        "always-weak) / (always-strong - always-weak); APGR = area under PGR against the "
        "share of calls to the strong model; CPT(x%) = the smallest share that reaches PGR "
        "x%. The oracle knows the labels: the best any router can do."
    )


def _hours(hours: float | None) -> str:
    """``run_training`` always records ``label_hours``, as null when it was not given."""
    return "n/a" if hours is None else str(hours)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _router_row(name: str, router: dict[str, Any]) -> str:
    by_share = {point["share_to_strong"]: point["quality"] for point in router["curve"]}
    cells = [router["apgr"], router["cpt_50"], router["cpt_80"]]
    cells += [by_share[s] for s in _TABLE_SHARES]
    return f"| {name} | " + " | ".join(_cell(c) for c in cells) + " |"


def _source_row(source: dict[str, Any], names: list[str]) -> str:
    cells = [source["weak_accuracy"], source["strong_accuracy"]]
    cells += [source["routers"][n]["apgr"] for n in names]
    cells.append(source["routers"]["predictor"]["cpt_50"])
    return (
        f"| {source['source']} | {source['prompts']} | "
        + " | ".join(_cell(c) for c in cells)
        + " |"
    )


def _plot(pooled: SourceResult, path: Path) -> None:
    figure = Figure(figsize=(7, 5), dpi=120)
    axes = figure.add_subplot()
    # Each line thinner than the one before, so a curve drawn over another stays visible.
    for i, (name, result) in enumerate(pooled.routers.items()):
        axes.plot(
            result.curve.shares,
            result.curve.quality,
            linewidth=3.0 / (1 + i / 2),
            label=f"{name} (APGR {result.apgr:.3f})",
        )
    axes.axhline(pooled.weak_accuracy, color="grey", linestyle="--", label="always weak")
    axes.axhline(pooled.strong_accuracy, color="black", linestyle="--", label="always strong")
    axes.set_xlabel("share of calls to the strong model")
    axes.set_ylabel("quality (mean correctness, held-out sources)")
    axes.set_title("Cost-quality, leave-one-source-out, pooled")
    axes.legend(loc="best", fontsize="small")
    figure.savefig(path)


def _number(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
