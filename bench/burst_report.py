"""What ``bench.burst`` reports: a phase's numbers, the router's prediction error and
target from Ray's metrics port, and the Markdown table."""

import re
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench.load import report_header


@dataclass
class Phase:
    rule: str
    phase: str
    rate_per_s: float
    requests: int
    ttft_p50_ms: float
    ttft_p95_ms: float
    ttft_p99_ms: float
    slo_misses: float
    overflow_share: float
    external_spend: float
    refused_429: int
    lost: int
    oracle_overflow_share: float
    oracle_spend: float
    overflow_reasons: dict[str, int]


@dataclass(frozen=True)
class RouterReadings:
    """What one rule's router says on Ray's metrics port after its phases."""

    median_prediction_error: float | None
    ttft_target_s: float | None  # the target it ran under (learned, with ``auto``)


def router_readings(metrics_port: int) -> RouterReadings:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    targets = re.findall(r"ray_switchboard_ttft_target_seconds\{[^}]*\} (\S+)", text)
    target_s = max((float(t) for t in targets), default=None)
    return RouterReadings(_median_prediction_error(text), target_s)


def _median_prediction_error(text: str) -> float | None:
    """The median of ``switchboard_ttft_prediction_error``, interpolated in its buckets."""
    buckets: dict[float, float] = {}
    pattern = r'ray_switchboard_ttft_prediction_error_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)'
    for le, count in re.findall(pattern, text):
        buckets[float(le)] = buckets.get(float(le), 0.0) + float(count)
    if not buckets or buckets[max(buckets)] == 0:
        return None
    edges = sorted(buckets)
    half, lower, below = buckets[edges[-1]] / 2, 0.0, 0.0
    for edge in edges:
        if buckets[edge] >= half:
            if edge == float("inf"):
                return lower
            share = (half - below) / max(buckets[edge] - below, 1e-9)
            return lower + share * (edge - lower)
        lower, below = edge, buckets[edge]
    return None


def reasons(phase: Phase) -> str:
    return "(" + ", ".join(f"{r} {n}" for r, n in sorted(phase.overflow_reasons.items())) + ")"


def regret(phase: Phase) -> str:
    if phase.oracle_spend == 0:
        return "0" if phase.external_spend == 0 else "inf (oracle: none)"
    return f"{phase.external_spend / phase.oracle_spend - 1:+.0%}"


def markdown(info: dict[str, str], facts: dict[str, Any], phases: list[Phase]) -> str:
    service = facts["oracle_service"]
    lines = report_header("Overflow against a TTFT target", facts["command"], info)
    lines += [
        f"SmolLM2 on {facts['engine']}, batch {facts['batch']}. Unloaded TTFT p95 "
        f"{facts['unloaded_ttft_p95_s'] * 1000:.0f} ms, mean request "
        f"{facts['mean_request_s']:.2f} s; target {facts['target_s'] * 1000:.0f} ms (2 x "
        f"p95); local capacity {facts['capacity_per_s']:.2f} req/s (completed with the "
        "batch kept full). Oracle's service times, alone / batch full: TTFT "
        f"{service['prefill_s'] * 1000:.0f} / {service['full_prefill_s'] * 1000:.0f} ms, "
        f"{service['decode_s_per_token'] * 1000:.0f} / "
        f"{service['full_decode_s_per_token'] * 1000:.0f} ms per token. "
        "Median TTFT prediction error: "
        + ", ".join(f"{rule} {err}" for rule, err in facts["median_prediction_error"].items())
        + ". The target each router ran under (from its metrics; auto: learned): "
        + ", ".join(f"{rule} {t}" for rule, t in facts["router_ttft_target"].items())
        + ".",
        "",
        "| rule | phase | req/s | requests | TTFT p50 / p95 / p99 ms | over target | "
        "overflowed (why) | spend | oracle: overflowed, spend | regret | 429 | lost |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {p.rule} | {p.phase} | {p.rate_per_s:.2f} | {p.requests} | {p.ttft_p50_ms:.0f} / "
        f"{p.ttft_p95_ms:.0f} / {p.ttft_p99_ms:.0f} | {p.slo_misses:.0%} | "
        f"{p.overflow_share:.0%} {reasons(p)} | {p.external_spend:.6f} | "
        f"{p.oracle_overflow_share:.0%}, {p.oracle_spend:.6f} | {regret(p)} | "
        f"{p.refused_429} | {p.lost} |"
        for p in phases
    ]
    return "\n".join(lines) + "\n"
