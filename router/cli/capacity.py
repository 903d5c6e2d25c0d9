"""Capacity planning: from observed load, the replicas each local model needs.

Input: a Prometheus that scrapes Ray's metrics port (``--prometheus URL``, over
``--window``), or one or more saved scrapes of that port (``--snapshot FILE...``; see
``router.cli.capacity_sources``). Per local model (one with ``switchboard_engine_*`` series):

- utilisation = running / batch slots, summed over replicas (mean and peak);
- peak queue = the most requests waiting inside its engines at once;
- overflow share = requests that chose it but were served elsewhere / requests that
  chose it; refused share = those refused with 429 (nothing had room) / the same;
- peak demand = peak busy / (1 - turned-away share), where peak busy is the most
  requests running + waiting at once and turned away = overflowed + refused: the
  turned-away requests are assumed to have needed what the served ones did (Little's
  law with the same latency), so concurrency scales by the inverse of the share served;
- replicas needed = ceil(peak demand / (batch slots per replica x target utilisation)),
  at least 1. Unknown (``-``) when nothing was served locally or the engine reports no
  fixed batch size;
- replicas for the TTFT target (the model's ``saturation.ttft_target_s``, exported by the
  router, or ``--ttft-target``): the fewest whose TTFT p95 at peak demand is within it,
  with the TTFT predictor's terms: TTFT = the wait for a batch slot + the prefill (the
  router's learned ``switchboard_prefill_seconds``), and a request holds its slot for the
  service time (mean end-to-end - mean TTFT + prefill, of the requests served here). The
  wait is Erlang C's (M/M/c: c = replicas x slots, offered load = peak demand): P(wait >
  t) = C(c, a) exp(-(c - a) t / service), at most 5 % beyond target - prefill. Unknown
  when the prefill alone exceeds the target or the series are missing.

The share is the window's average while peak busy is its peak, so pick a window around
the busy period: a long quiet window dilutes the share and under-estimates demand.
"""

import math
from dataclasses import dataclass

DEFAULT_TARGET = 0.7
TTFT_QUANTILE = 0.95  # the TTFT target holds for this share of requests


@dataclass(frozen=True)
class ModelLoad:
    """One local model over the window, summed over its replicas."""

    model: str
    replicas: int
    slots_per_replica: float | None  # None: the engine reports no fixed batch size
    mean_utilisation: float | None
    peak_utilisation: float | None
    peak_queue: float
    peak_busy: float  # running + waiting at their highest
    kept: float  # chose it and were not sent elsewhere: served here, or refused
    overflowed: float  # chose it and were served elsewhere
    refused: float  # chose it and were refused with 429
    service_s: float | None = None  # how long a request served here held its batch slot
    prefill_s: float | None = None  # the TTFT predictor's learned prefill (short prompt)
    ttft_target_s: float | None = None  # the model's configured target, if any

    @property
    def chose(self) -> float:
        return self.kept + self.overflowed


@dataclass(frozen=True)
class CapacityPlan:
    load: ModelLoad
    overflow_share: float
    refused_share: float
    peak_demand: float | None
    replicas_needed: int | None
    ttft_target_s: float | None
    replicas_for_ttft: int | None


def plan(
    load: ModelLoad, target_utilisation: float, ttft_target_s: float | None = None
) -> CapacityPlan:
    """``ttft_target_s``: in place of the model's own target."""
    chose = load.chose
    overflow_share = load.overflowed / chose if chose else 0.0
    refused_share = load.refused / chose if chose else 0.0
    served_share = 1.0 - overflow_share - refused_share
    demand = load.peak_busy / served_share if served_share > 0 else None
    needed = None
    if demand is not None and load.slots_per_replica:
        per_replica = load.slots_per_replica * target_utilisation
        needed = max(1, math.ceil(round(demand / per_replica, 9)))  # 9: float noise
    target = load.ttft_target_s if ttft_target_s is None else ttft_target_s
    for_ttft = None
    if demand is not None and target is not None:
        for_ttft = replicas_for_ttft(load, demand, target)
    return CapacityPlan(load, overflow_share, refused_share, demand, needed, target, for_ttft)


def replicas_for_ttft(load: ModelLoad, demand: float, target_s: float) -> int | None:
    """The fewest replicas whose TTFT p95 at ``demand`` requests at once is within
    ``target_s`` (see the module's docstring)."""
    slots, service, prefill = load.slots_per_replica, load.service_s, load.prefill_s
    if not slots or service is None or service <= 0 or prefill is None or prefill > target_s:
        return None
    per_replica = round(slots)
    wait_budget = (target_s - prefill) / service  # in service times
    replicas = max(1, math.floor(demand / per_replica))  # fewer: the queue grows without end
    while _waits_beyond(replicas * per_replica, demand, wait_budget) > 1 - TTFT_QUANTILE:
        replicas += 1
    return replicas


def _waits_beyond(servers: int, offered: float, t: float) -> float:
    """Erlang C: the share of requests that wait longer than ``t`` service times in an
    M/M/``servers`` queue with ``offered`` erlangs."""
    if offered >= servers:
        return 1.0
    blocked = 1.0  # Erlang B, by its recurrence over the servers
    for k in range(1, servers + 1):
        blocked = offered * blocked / (k + offered * blocked)
    waits = servers * blocked / (servers - offered * (1 - blocked))
    return waits * math.exp(-(servers - offered) * t)


def render(plans: list[CapacityPlan], target_utilisation: float) -> str:
    header = ("model", "replicas", "slots/replica", "util mean", "util peak", "peak queue",
              "requests", "overflow share", "refused share", "peak demand",
              f"replicas needed @{target_utilisation:.0%}", "ttft target",
              f"replicas needed @TTFT p{TTFT_QUANTILE * 100:.0f}")  # fmt: skip
    rows = [header] + [_row(p) for p in plans]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip


def _row(p: CapacityPlan) -> tuple[str, ...]:
    load, needed = p.load, p.replicas_needed
    return (load.model, str(load.replicas), _num(load.slots_per_replica),
            _pct(load.mean_utilisation), _pct(load.peak_utilisation), _num(load.peak_queue),
            f"{load.chose:.0f}", _pct(p.overflow_share), _pct(p.refused_share),
            _num(p.peak_demand), _count(needed), _seconds(p.ttft_target_s),
            _count(p.replicas_for_ttft))  # fmt: skip


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}".removesuffix(".0")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"
