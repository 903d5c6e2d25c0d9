"""``switchboard capacity``: read the observed load and print each local model's plan
(the formulas are ``router.cli.capacity``'s)."""

import argparse
import sys
from pathlib import Path

from router.cli import capacity as planning
from router.cli.capacity import DEFAULT_TARGET, plan, render
from router.cli.capacity_sources import SourceError, from_prometheus, from_snapshots


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    capacity = commands.add_parser(
        "capacity",
        help="replicas per model for the observed peak, from Prometheus or saved scrapes",
        description=planning.__doc__.split("\n\n")[1] if planning.__doc__ else None,
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
    capacity.add_argument(
        "--ttft-target", type=float, metavar="SECONDS",
        help="TTFT p95 to plan for, in place of each model's configured target",
    )  # fmt: skip
    capacity.set_defaults(func=_capacity)


def _capacity(args: argparse.Namespace) -> int:
    if not 0 < args.target_utilisation <= 1:
        print("switchboard: --target-utilisation must be in (0, 1]", file=sys.stderr)
        return 2
    if args.ttft_target is not None and args.ttft_target <= 0:
        print("switchboard: --ttft-target must be positive", file=sys.stderr)
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
    plans = [plan(load, args.target_utilisation, args.ttft_target) for load in observed.loads]
    print(render(plans, args.target_utilisation))
    for note in observed.notes:
        print(f"note: {note}")
    return 0
