"""The evaluation report, in three files named ``routing_eval_<YYYYMMDD>``: ``.json``
(every number, the curves, provenance and the command), ``.md`` (written from that JSON,
for people) and ``.png`` (the cost-quality curves)."""

import datetime
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from router.classifier.evaluate import Evaluation, RouterResult
from router.classifier.labels import ANSWER_TOKENS

CURVE_GRID = np.linspace(0.0, 1.0, 21)  # shares to large written out per router
_TABLE_SHARES = (0.2, 0.5, 0.8)


def write_report(
    evaluation: Evaluation,
    provenance: dict[str, Any],
    held_out_tasks: tuple[str, ...],
    command: str,
    report_dir: Path,
    day: datetime.date | None = None,
) -> tuple[Path, Path, Path]:
    """Write the three files and return their paths (json, md, png)."""
    day = day or datetime.date.today()
    stem = report_dir / f"routing_eval_{day:%Y%m%d}"
    report_dir.mkdir(parents=True, exist_ok=True)
    data = report_data(evaluation, provenance, held_out_tasks, command, day)
    json_path, md_path, png_path = (stem.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(report_markdown(data, png_path.name))
    _plot(evaluation, png_path)
    return json_path, md_path, png_path


def report_data(
    evaluation: Evaluation,
    provenance: dict[str, Any],
    held_out_tasks: tuple[str, ...],
    command: str,
    day: datetime.date,
) -> dict[str, Any]:
    """Every reported number, rounded to 4 places; NaN (undefined) becomes null."""
    any_curve = next(iter(evaluation.routers.values())).curve
    return {
        "date": day.isoformat(),
        "command": command,
        "provenance": provenance,
        "held_out_task_names": list(held_out_tasks),
        "held_out": {
            "prompts": evaluation.prompts,
            "always_small_quality": _number(any_curve.always_small),
            "always_large_quality": _number(any_curve.always_large),
            "small_suffices_rate": _number(evaluation.small_suffices_rate),
        },
        "classifier": {
            "accuracy": _number(evaluation.accuracy),
            "roc_auc": _number(evaluation.roc_auc),
            "category_accuracy": _number(evaluation.category_accuracy),
            "calibration": [
                {"target_share": t, "threshold": _number(h), "held_out_share": _number(s)}
                for t, (h, s) in evaluation.calibration.items()
            ],
        },
        "routers": {name: _router_data(r) for name, r in evaluation.routers.items()},
    }


def _router_data(result: RouterResult) -> dict[str, Any]:
    """APGR, CPT and the curve at ``CURVE_GRID`` (linear between exact points)."""
    quality = np.interp(CURVE_GRID, result.curve.shares, result.curve.quality)
    pgr = np.interp(CURVE_GRID, result.curve.shares, result.curve.pgr())
    return {
        "apgr": _number(result.apgr),
        **{f"cpt_{round(100 * t)}": _number(c) for t, c in result.cpt.items()},
        "curve": [
            {"share_to_large": _number(s), "quality": _number(q), "pgr": _number(g)}
            for s, q, g in zip(CURVE_GRID, quality, pgr, strict=True)
        ],
    }


def report_markdown(data: dict[str, Any], plot_name: str) -> str:
    held, clf = data["held_out"], data["classifier"]
    lines = [
        f"# Routing classifier: held-out evaluation, {data['date']}",
        "",
        _method(data["provenance"]),
        "",
        "| held-out tasks | value |",
        "|---|---|",
        f"| prompts | {held['prompts']} |",
        f"| always-small quality | {_cell(held['always_small_quality'])} |",
        f"| always-large quality | {_cell(held['always_large_quality'])} |",
        f"| small suffices (label base rate) | {_cell(held['small_suffices_rate'])} |",
        f"| classifier accuracy (P >= 0.5) | {_cell(clf['accuracy'])} |",
        f"| classifier ROC-AUC | {_cell(clf['roc_auc'])} |",
        f"| category accuracy | {_cell(clf['category_accuracy'])} |",
        "",
        "| router | APGR | CPT(50%) | CPT(80%) | "
        + " | ".join(f"quality at {round(100 * s)}% large" for s in _TABLE_SHARES)
        + " |",
        "|---" * (4 + len(_TABLE_SHARES)) + "|",
        *(_router_row(name, r) for name, r in data["routers"].items()),
        "",
        "| asked share to large | threshold | held-out share to large |",
        "|---|---|---|",
        *(
            f"| {c['target_share']} | {_cell(c['threshold'])} | {_cell(c['held_out_share'])} |"
            for c in clf["calibration"]
        ),
        "",
        f"![cost-quality curves]({plot_name})",
        "",
        f"Command: `{data['command']}`",
    ]
    return "\n".join(lines) + "\n"


def _method(p: dict[str, Any]) -> str:
    cv = p["cross_validation"]
    return (
        f"**Method.** {p['prompts']} prompts from {p['tasks']} tasks of the "
        f"{p['data_source']}, each answered greedily (at most {ANSWER_TOKENS} tokens) by "
        f"{p['small_model']} (small) and {p['large_model']} (large) and graded "
        "deterministically against the eval's reference answers (normalised containment; "
        "a one- or two-character reference must be the first word). The label is "
        "*small suffices* unless only the large answer is correct. "
        f"{p['held_out_tasks']} whole tasks ({p['held_out_prompts']} prompts; share "
        f"{p['held_out_share']}, seed {p['seed']}) are held out; logistic-regression heads "
        f"over {p['embedder']} embeddings were fitted on the other {p['train_tasks']} tasks "
        f"({p['train_prompts']} prompts), C chosen by {cv['folds']}-fold cross-validation "
        f"grouped by task (routing head C={cv['small_ok_C']}, category head "
        f"C={cv['category_C']}), thresholds calibrated on out-of-fold predictions. Every "
        "number below is on the held-out tasks. Metrics follow RouteLLM (arXiv 2406.18665): "
        "quality = mean correctness of the routed answers; PGR = (quality - always-small) / "
        "(always-large - always-small); APGR = area under PGR against the share of calls "
        "to the large model; CPT(x%) = the smallest share to large that reaches PGR x%. "
        "The oracle knows the labels: the best any router can do."
    )


def _router_row(name: str, router: dict[str, Any]) -> str:
    by_share = {point["share_to_large"]: point["quality"] for point in router["curve"]}
    cells = [router["apgr"], router["cpt_50"], router["cpt_80"]]
    cells += [by_share[s] for s in _TABLE_SHARES]
    return f"| {name} | " + " | ".join(_cell(c) for c in cells) + " |"


def _plot(evaluation: Evaluation, path: Path) -> None:
    figure = Figure(figsize=(7, 5), dpi=120)
    axes = figure.add_subplot()
    # Each line thinner than the one before, so a curve drawn over another stays visible.
    for i, (name, result) in enumerate(evaluation.routers.items()):
        axes.plot(
            result.curve.shares,
            result.curve.quality,
            linewidth=3.0 / (1 + i / 2),
            label=f"{name} (APGR {result.apgr:.3f})",
        )
    curve = next(iter(evaluation.routers.values())).curve
    axes.axhline(curve.always_small, color="grey", linestyle="--", label="always small")
    axes.axhline(curve.always_large, color="black", linestyle="--", label="always large")
    axes.set_xlabel("share of calls to the large model")
    axes.set_ylabel("quality (mean correctness, held-out tasks)")
    axes.set_title("Cost-quality on held-out tasks")
    axes.legend(loc="best", fontsize="small")
    figure.savefig(path)


def _number(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
