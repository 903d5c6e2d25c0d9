"""The overhead benchmark's report: the issue's targets checked per Switchboard target, the
README's summary table and the markdown results file."""

import json
from typing import Any

from bench.overhead_phases import Level, fmt


def peak(levels: list[Level], target: str, scenario: str) -> float:
    return max((lv.per_s for lv in levels if lv.target == target and lv.scenario == scenario),
               default=0.0)  # fmt: skip


def find(
    levels: list[Level], target: str, scenario: str, concurrency: int | None = None
) -> Level | None:
    return next((lv for lv in levels if lv.target == target and lv.scenario == scenario
                 and concurrency in (None, lv.concurrency)), None)  # fmt: skip


SWITCHBOARD = ("switchboard", "switchboard-direct", "switchboard-ray-proxy")


def verdicts(levels: list[Level], max_ongoing: int) -> list[dict[str, Any]]:
    """The hot-path issue's targets, for each Switchboard target measured in this run."""
    rows: list[dict[str, Any]] = []
    for name in SWITCHBOARD:
        if find(levels, name, "latency-c1") is not None:
            checks = target_checks(levels, name, max_ongoing)
            rows += [{"target": name, "goal": g, "value": v, "pass": ok} for g, v, ok in checks]
    return rows


def target_checks(
    levels: list[Level], name: str, max_ongoing: int
) -> list[tuple[str, float | None, bool | None]]:
    checks: list[tuple[str, float | None, bool | None]] = []
    c1, upstream = find(levels, name, "latency-c1"), find(levels, "upstream", "latency-c1")
    added = c1.p50_ms - upstream.p50_ms if c1 and upstream else None
    checks.append(("added p50 at c=1 <= 2 ms", added, None if added is None else added <= 2))
    for scenario, goal in (("sweep", 1000), ("sweep-stream", 800)):
        rate = peak(levels, name, scenario)
        checks.append((f"peak {scenario} >= {goal} per s", rate, rate >= goal))
    best = max((lv for lv in levels if lv.target == name and lv.scenario == "sweep"),
               key=lambda lv: lv.per_s, default=None)  # fmt: skip
    per_request = best.cpu_ms_per_request if best else None
    checks.append(("CPU ms per pinned request at peak <= 1", per_request,
                   None if per_request is None else per_request <= 1))  # fmt: skip
    paced = find(levels, name, "paced-stream")
    chunk = paced.cpu_ms_per_chunk if paced else None
    checks.append(
        ("CPU ms per relayed chunk <= 0.05", chunk, None if chunk is None else chunk <= 0.05)
    )
    for scenario in ("sweep", "sweep-stream"):
        at = find(levels, name, scenario, max_ongoing)
        over = find(levels, name, scenario, 2 * max_ongoing)
        if at and over:  # collapse: under 80% of the rate at the limit, or any error
            share = over.per_s / at.per_s if at.per_s else 0.0
            what = f"{scenario}: 2x max_ongoing keeps >= 80% of 1x's rate, no errors"
            checks.append((what, share, share >= 0.8 and over.errors == 0))
    return checks


def summary(levels: list[Level]) -> list[str]:
    """One row per target: latency added at c=1, peak rates, paced TTFT, CPU (at the
    peak non-streamed level, and per chunk of the paced streams)."""
    upstream = find(levels, "upstream", "latency-c1")
    lines = ["| target | p50 / p99 ms at c=1 (added p50) | peak req/s | peak streams/s | "
             "TTFT p50 / p95 ms, 32 paced streams | CPU ms/req at peak | CPU ms/chunk paced |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in dict.fromkeys(lv.target for lv in levels):
        c1, paced = find(levels, name, "latency-c1"), find(levels, name, "paced-stream")
        best = max((lv for lv in levels if lv.target == name and lv.scenario == "sweep"),
                   key=lambda lv: lv.per_s, default=None)  # fmt: skip
        if c1 is None or paced is None or best is None:
            continue
        added = f" (+{c1.p50_ms - upstream.p50_ms:.2f})" if upstream else ""
        lines.append(
            f"| {name} | {c1.p50_ms:.2f} / {c1.p99_ms:.2f}{added} | {best.per_s:.0f} | "
            f"{peak(levels, name, 'sweep-stream'):.0f} | {paced.ttft_p50_ms:.1f} / "
            f"{paced.ttft_p95_ms:.1f} | {best.cpu_ms_per_request:.2f} | "
            f"{fmt(paced.cpu_ms_per_chunk)} |"
        )
    return lines


def ratios(levels: list[Level]) -> list[str]:
    """Each Switchboard target's peak rates over each other router's, measured alike."""
    others = [name for name in ("litellm", "vllm-router") if find(levels, name, "sweep")]
    lines = []
    for name in SWITCHBOARD:
        if find(levels, name, "sweep") is None:
            continue
        parts = [f"{peak(levels, name, scenario) / peak(levels, other, scenario):.2f}x {other}'s "
                 f"{scenario}" for other in others for scenario in ("sweep", "sweep-stream")
                 if peak(levels, other, scenario)]  # fmt: skip
        if parts:
            lines.append(f"- {name}: " + ", ".join(parts))
    return lines


def markdown(meta: dict[str, Any], levels: list[Level], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# Router overhead ({meta['date']})",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {json.dumps(meta['machine'])}  ",
        f"Versions: {json.dumps(meta['versions'])}  ",
        f"Load average before / after: {meta['loadavg_before']} / {meta['loadavg_after']}",
        "",
    ]
    lines += [f"- {name}: {note}" for name, note in meta["targets"].items()]
    lines += ["", "## Summary (the README table)", "", *summary(levels), "", *ratios(levels), ""]
    lines += ["## Targets (issue 18)", "", "| target | goal | value | pass |", "|---|---|---|---|"]
    lines += [
        f"| {r['target']} | {r['goal']} | {fmt(r['value'])} | {fmt(r['pass'])} |" for r in rows
    ]
    lines += ["", "## Levels", "", "CPU: ms of the request path (front + router replica; "
              "LiteLLM's or the vLLM Router's tree; the upstream's own process); net: minus "
              "the idle rate; tree: every server process per request; client: this "
              "process's share of one core.", "",
              "| scenario | target | clients | ok | errors | per s | chunks/s | p50 / p99 ms | "
              "TTFT p50 / p95 ms | CPU ms/req | net ms/req | CPU ms/chunk | net ms/chunk | "
              "tree ms/req | client |", "|" + "---|" * 15]  # fmt: skip
    for lv in levels:
        lines.append(
            f"| {lv.scenario} | {lv.target} | {lv.concurrency} | {lv.ok} | {lv.errors} "
            f"{lv.error_kinds or ''} | {lv.per_s:.1f} | {lv.chunks_per_s:.0f} | "
            f"{lv.p50_ms:.2f} / {lv.p99_ms:.2f} | {lv.ttft_p50_ms:.2f} / {lv.ttft_p95_ms:.2f} | "
            f"{lv.cpu_ms_per_request:.3f} | {lv.net_cpu_ms_per_request:.3f} | "
            f"{fmt(lv.cpu_ms_per_chunk)} | {fmt(lv.net_cpu_ms_per_chunk)} | "
            f"{lv.tree_cpu_ms_per_request:.3f} | {lv.client_cpu_share:.2f} |"
        )
    return "\n".join(lines) + "\n"
