"""``switchboard capacity``: from observed load, the replicas each local model needs.

Input: a Prometheus that scrapes Ray's metrics port (``--prometheus URL``, over
``--window``), or one or more saved scrapes of that port (``--snapshot FILE...``; see
``router.capacity_sources``). Per local model (one with ``switchboard_engine_*`` series):

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
  fixed batch size.

The share is the window's average while peak busy is its peak, so pick a window around
the busy period: a long quiet window dilutes the share and under-estimates demand.
"""

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TARGET = 0.7


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


def plan(load: ModelLoad, target_utilisation: float) -> CapacityPlan:
    chose = load.chose
    overflow_share = load.overflowed / chose if chose else 0.0
    refused_share = load.refused / chose if chose else 0.0
    served_share = 1.0 - overflow_share - refused_share
    demand = load.peak_busy / served_share if served_share > 0 else None
    needed = None
    if demand is not None and load.slots_per_replica:
        per_replica = load.slots_per_replica * target_utilisation
        needed = max(1, math.ceil(round(demand / per_replica, 9)))  # 9: float noise
    return CapacityPlan(load, overflow_share, refused_share, demand, needed)


def render(plans: list[CapacityPlan], target_utilisation: float) -> str:
    header = ("model", "replicas", "slots/replica", "util mean", "util peak", "peak queue",
              "requests", "overflow share", "refused share", "peak demand",
              f"replicas needed @{target_utilisation:.0%}")  # fmt: skip
    rows = [header] + [_row(p) for p in plans]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip


def _row(p: CapacityPlan) -> tuple[str, ...]:
    load, needed = p.load, p.replicas_needed
    return (load.model, str(load.replicas), _num(load.slots_per_replica),
            _pct(load.mean_utilisation), _pct(load.peak_utilisation), _num(load.peak_queue),
            f"{load.chose:.0f}", _pct(p.overflow_share), _pct(p.refused_share),
            _num(p.peak_demand), "-" if needed is None else str(needed))  # fmt: skip


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}".removesuffix(".0")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    capacity = commands.add_parser(
        "capacity",
        help="replicas per model for the observed peak, from Prometheus or saved scrapes",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    source = capacity.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    source.add_argument(
        "--snapshot", type=Path, nargs="+", metavar="FILE",
        help="saved scrapes of Ray's /metrics, oldest first (counters: last minus first)",
    )  # fmt: skip
    capacity.add_argument("--window", default="1h", help="Prometheus range (default 1h)")
    capacity.add_argument(
        "--target-utilisation", type=float, default=DEFAULT_TARGET,
        help=f"batch-slot use to plan for (default {DEFAULT_TARGET})",
    )  # fmt: skip
    capacity.set_defaults(func=_capacity)


def _capacity(args: argparse.Namespace) -> int:
    from router.capacity_sources import SourceError, from_prometheus, from_snapshots

    if not 0 < args.target_utilisation <= 1:
        print("switchboard: --target-utilisation must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        if args.prometheus:
            observed = from_prometheus(args.prometheus, args.window)
        else:
            observed = from_snapshots(args.snapshot)
    except SourceError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    if not observed.loads:
        print("switchboard: no switchboard_engine_* series found", file=sys.stderr)
        return 1
    plans = [plan(load, args.target_utilisation) for load in observed.loads]
    print(render(plans, args.target_utilisation))
    for note in observed.notes:
        print(f"note: {note}")
    return 0
