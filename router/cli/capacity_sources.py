"""Where ``switchboard capacity`` reads observed load from.

- A Prometheus server (``from_prometheus``): instant queries over the window; peaks are
  ``max_over_time`` of a subquery at a resolution of window/300 (at least 1 s), counts are
  ``increase`` (which, like every rate, misses a series' first export).
- Saved scrapes of Ray's metrics port (``from_snapshots``): each file is one
  ``curl http://<node>:8080/metrics`` (Prometheus text format), oldest first. Gauges are
  read at each scrape (mean and peak over the scrapes); counters are the last scrape minus
  the first, or the totals since Ray started when there is one. One node's port sees only
  that node's replicas: for a multi-node cluster, use Prometheus.

Series are Ray's (``ray_`` + the names in ``router.metrics.router_metrics`` and
``serving.metrics``), summed over replicas by ``model``.
"""

import json
import re
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from router.cli.capacity import ModelLoad

ByModel = dict[str, float]
Fetch = Callable[[str], Any]  # URL -> decoded JSON body

RUNNING = "ray_switchboard_engine_running"
WAITING = "ray_switchboard_engine_waiting"
SLOTS = "ray_switchboard_engine_batch_slots"
REQUESTS = "ray_switchboard_requests_total"
OVERFLOW = "ray_switchboard_overflow_total"
E2E = "ray_switchboard_e2e_seconds"
TTFT = "ray_switchboard_ttft_seconds"
PREFILL = "ray_switchboard_prefill_seconds"
TTFT_TARGET = "ray_switchboard_ttft_target_seconds"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SourceError(Exception):
    """The load source could not be read."""


@dataclass(frozen=True)
class Observed:
    loads: list[ModelLoad]
    notes: list[str]


def parse_duration(text: str) -> int:
    """Prometheus-style ``90s``, ``30m``, ``1h30m``, ``2d`` to seconds."""
    parts = re.findall(r"(\d+)([smhdw])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SourceError(f"window {text!r}: expected a duration such as 90s, 30m, 1h")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def prometheus_queries(window_s: int) -> dict[str, str]:
    w, s = f"{window_s}s", f"{max(1, window_s // 300)}s"
    util = f"sum by (model) ({RUNNING}) / sum by (model) ({SLOTS})"
    return {
        "replicas": f"max_over_time(count by (model) ({RUNNING})[{w}:{s}])",
        "slots": f"max by (model) (max_over_time({SLOTS}[{w}]))",
        "util_mean": f"avg_over_time(({util})[{w}:{s}])",
        "util_peak": f"max_over_time(({util})[{w}:{s}])",
        "peak_queue": f"max_over_time(sum by (model) ({WAITING})[{w}:{s}])",
        "peak_busy": f"max_over_time(sum by (model) ({RUNNING} + {WAITING})[{w}:{s}])",
        "kept": f'sum by (model) (increase({REQUESTS}{{route!="overflow"}}[{w}]))',
        "refused": f'sum by (model) (increase({REQUESTS}{{outcome="429"}}[{w}]))',
        "overflowed": f"sum by (model) (increase({OVERFLOW}[{w}]))",
        **{f"{name}_{part}": f"sum by (model) (increase({series}_{part}[{w}]))"
           for name, series in (("e2e", E2E), ("ttft", TTFT)) for part in ("sum", "count")},
        # The router replicas' learned prefills differ a little: plan with the slowest.
        "prefill": f"max by (model) (avg_over_time({PREFILL}[{w}]))",
        "ttft_target": f"max by (model) (max_over_time({TTFT_TARGET}[{w}]))",
    }  # fmt: skip


def from_prometheus(url: str, window: str, fetch: Fetch | None = None) -> Observed:
    get = fetch or _fetch_json
    values: dict[str, ByModel] = {}
    for name, expr in prometheus_queries(parse_duration(window)).items():
        query = urllib.parse.urlencode({"query": expr})
        body = get(f"{url.rstrip('/')}/api/v1/query?{query}")
        if body.get("status") != "success":
            raise SourceError(f"{url}: query {expr!r} failed: {body.get('error', body)}")
        values[name] = {
            r["metric"].get("model", ""): float(r["value"][1]) for r in body["data"]["result"]
        }
    return assemble(values)


def _fetch_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return json.loads(reply.read())
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise SourceError(f"cannot query Prometheus: {exc}") from exc


def from_snapshots(paths: Sequence[Path]) -> Observed:
    scrapes = [_scrape(path) for path in paths]
    first, last = scrapes[0], scrapes[-1]
    utils = [_ratio(s[RUNNING], s[SLOTS]) for s in scrapes]

    def counted(name: str) -> ByModel:
        before = first[name] if len(scrapes) > 1 else {}
        return {m: v - before.get(m, 0.0) for m, v in last[name].items()}

    values = {
        "replicas": _peak(s["replicas"] for s in scrapes),
        "slots": _peak(s["slot_max"] for s in scrapes),
        "util_mean": {m: sum(u.get(m, 0.0) for u in utils) / len(utils) for m in utils[-1]},
        "util_peak": _peak(utils),
        "peak_queue": _peak(s[WAITING] for s in scrapes),
        "peak_busy": _peak(_add(s[RUNNING], s[WAITING]) for s in scrapes),
        "kept": counted("kept"),
        "refused": counted("refused"),
        "overflowed": counted(OVERFLOW),
        **{f"{name}_{part}": counted(f"{series}_{part}")
           for name, series in (("e2e", E2E), ("ttft", TTFT)) for part in ("sum", "count")},
        "prefill": _mean(s["prefill_max"] for s in scrapes),
        "ttft_target": _peak(s["ttft_target_max"] for s in scrapes),
    }  # fmt: skip
    return assemble(values)


def _scrape(path: Path) -> dict[str, ByModel]:
    """One exposition text, summed by ``model`` (``""`` for series without one)."""
    try:
        text = path.read_text()
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: not a readable Prometheus text scrape: {exc}") from exc
    sums: dict[str, ByModel] = defaultdict(lambda: defaultdict(float))
    for sample in samples:
        model, labels = sample.labels.get("model", ""), sample.labels
        for gauge, slowest in ((SLOTS, "slot_max"), (PREFILL, "prefill_max"),
                               (TTFT_TARGET, "ttft_target_max")):  # fmt: skip
            if sample.name == gauge:  # the same for every replica, or plan with the worst
                sums[slowest][model] = max(sums[slowest][model], sample.value)
        if sample.name == RUNNING:
            sums["replicas"][model] += 1
        if sample.name == REQUESTS:
            if labels.get("route") != "overflow":
                sums["kept"][model] += sample.value
            if labels.get("outcome") == "429":
                sums["refused"][model] += sample.value
        sums[sample.name][model] += sample.value
    return sums


def assemble(values: Mapping[str, Mapping[str, float]]) -> Observed:
    """Per-model loads from the named per-model values (see ``prometheus_queries``); the
    local models are those with engine series."""
    models = sorted(m for m in values["replicas"] if m)
    overflowed, notes = _attribute(values["overflowed"], models)
    loads = [
        ModelLoad(
            model=m,
            replicas=round(values["replicas"][m]),
            slots_per_replica=values["slots"].get(m),
            mean_utilisation=values["util_mean"].get(m),
            peak_utilisation=values["util_peak"].get(m),
            peak_queue=values["peak_queue"].get(m, 0.0),
            peak_busy=values["peak_busy"].get(m, 0.0),
            kept=values["kept"].get(m, 0.0),
            overflowed=overflowed.get(m, 0.0),
            refused=values["refused"].get(m, 0.0),
            service_s=_service_s(values, m),
            prefill_s=values["prefill"].get(m),
            ttft_target_s=values["ttft_target"].get(m),
        )
        for m in models
    ]
    return Observed(loads, notes)


def _service_s(values: Mapping[str, Mapping[str, float]], model: str) -> float | None:
    """How long a request served here held its batch slot, on average: its time from
    the first token to the end, plus the prefill."""
    count, prefill = values["e2e_count"].get(model), values["prefill"].get(model)
    if not count or prefill is None or not values["ttft_count"].get(model):
        return None
    e2e = values["e2e_sum"].get(model, 0.0) / count
    ttft = values["ttft_sum"].get(model, 0.0) / values["ttft_count"][model]
    return max(e2e - ttft, 0.0) + prefill


def _attribute(overflowed: Mapping[str, float], models: list[str]) -> tuple[ByModel, list[str]]:
    """Overflow counts by the chosen model. Series without a ``model`` label (scraped before
    the counter carried the chosen model) are the sole local model's when there is one;
    with several they cannot be told apart, and are reported instead of guessed."""
    attributed = {m: v for m, v in overflowed.items() if m}
    unlabelled = overflowed.get("", 0.0)
    if unlabelled and len(models) == 1:
        attributed[models[0]] = attributed.get(models[0], 0.0) + unlabelled
        return attributed, []
    if unlabelled:
        note = (f"{unlabelled:g} overflowed requests carry no chosen-model label and are "
                "left out of the overflow shares (several local models)")  # fmt: skip
        return attributed, [note]
    return attributed, []


def _ratio(numerator: ByModel, denominator: ByModel) -> ByModel:
    return {m: numerator.get(m, 0.0) / d for m, d in denominator.items() if d}


def _add(a: ByModel, b: ByModel) -> ByModel:
    return {m: a.get(m, 0.0) + b.get(m, 0.0) for m in a.keys() | b.keys()}


def _mean(maps: Iterable[Mapping[str, float]]) -> ByModel:
    """Per model, the mean over the maps that have it."""
    seen: dict[str, list[float]] = defaultdict(list)
    for values in maps:
        for m, v in values.items():
            seen[m].append(v)
    return {m: sum(vs) / len(vs) for m, vs in seen.items()}


def _peak(maps: Iterable[Mapping[str, float]]) -> ByModel:
    peak: ByModel = {}
    for values in maps:
        for m, v in values.items():
            peak[m] = max(peak.get(m, v), v)
    return peak
