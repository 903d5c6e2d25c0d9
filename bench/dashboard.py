"""Dashboard benchmark: a real Prometheus (1 s scrapes) watches a Switchboard that
overflows (two SmolLM2 replicas with batches of 2, the fake provider process as the
external target; ``harness.overload``) through phases of streaming requests
arriving at fixed rates (open loop). Every panel of ``k8s/dashboards/switchboard.json`` is
then queried over the run with ``query_range`` and drawn from those real results, one PNG
per dashboard row, under ``docs/dashboard/``, with the raw results, the command and the machine in
``docs/dashboard/results.json``. Three scrapes of Ray's metrics port (before, in the middle
of and after the busiest phase) are kept as ``switchboard capacity --snapshot`` test data,
and ``switchboard capacity`` is run against the Prometheus.

Usage: .venv/bin/python -m bench.dashboard [--phase-seconds 30] [--max-tokens 32].
Loopback only; every phase is bounded by its duration.
"""

import argparse
import asyncio
import contextlib
import io
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.dashboard_plot import draw_rows
from bench.load import machine
from harness.configs import REPO
from harness.dashboard_panels import concrete, finite_points, load_dashboard, panel_queries
from harness.overload import closed_loop, open_loop, overflowing_app
from harness.prometheus import PrometheusProcess
from router.cli.main import main as switchboard

OUT = REPO / "docs" / "dashboard"
SNAPSHOTS = REPO / "tests" / "data" / "capacity"
# Arrivals per second in each phase (open loop). Local room: 2 replicas x (2 running + 1
# waiting); SmolLM2 serves ~1.5 req/s of 32 tokens here, the rest overflows.
PHASES = (0.5, 1.5, 3.0, 6.0, 0.5)
BUSIEST = PHASES.index(max(PHASES))
RATE_INTERVAL, STEP_S = "10s", 2.0


def keep_switchboard_series(text: str) -> str:
    """Our series only (a full scrape is ~800 KB of Ray's own): test data stays small."""
    return "".join(line + "\n" for line in text.splitlines() if "ray_switchboard_" in line)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return keep_switchboard_series(reply.read().decode())


async def phases(url: str, scrape_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    done = []
    for i, rate in enumerate(PHASES):
        if i == BUSIEST:  # counters before, gauges in the thick of it, counters after
            (SNAPSHOTS / "1_busy_start.txt").write_text(scrape(scrape_url))
            asyncio.get_running_loop().call_later(
                args.phase_seconds / 2, save_scrape, scrape_url, "2_busy_mid.txt"
            )
        started = time.time()
        statuses = await open_loop(url, rate, args.phase_seconds, args.max_tokens)
        counts = {str(s): statuses.count(s) for s in sorted(set(statuses))}
        done.append({"rate_per_s": rate, "start": started, "end": time.time(),
                     "requests": len(statuses), "statuses": counts})  # fmt: skip
        print(done[-1], flush=True)
        if i == BUSIEST:
            (SNAPSHOTS / "3_busy_end.txt").write_text(scrape(scrape_url))
    return done


def save_scrape(scrape_url: str, name: str) -> None:
    """Blocks the loop for one local scrape (milliseconds): the clients only wait on it."""
    (SNAPSHOTS / name).write_text(scrape(scrape_url))


def query_panels(prometheus: PrometheusProcess, start: float, end: float) -> list[dict[str, Any]]:
    results = []
    for query in panel_queries(load_dashboard()):
        expr = concrete(query.expr, RATE_INTERVAL, f"{end - start:.0f}s")
        series = prometheus.query_range(expr, start, end, STEP_S)
        results.append({"panel_id": query.panel_id, "title": query.title,
                        "ref_id": query.ref_id, "legend": query.legend, "expr": expr,
                        "finite_points": finite_points(series), "series": series})  # fmt: skip
    return results


def capacity_report(prometheus: PrometheusProcess, window_s: float) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        switchboard(["capacity", "--prometheus", prometheus.url, "--window", f"{window_s:.0f}s"])
    return out.getvalue()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=float, default=30)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    info = machine()
    print(json.dumps(info))
    OUT.mkdir(parents=True, exist_ok=True)
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as workdir,
        overflowing_app(Path(workdir)) as (url, metrics_port),
        PrometheusProcess([f"127.0.0.1:{metrics_port}"]) as prometheus,
    ):
        await closed_loop(url, clients=1, seconds=0.1, max_tokens=8)  # warm-up
        done = await phases(url, f"http://127.0.0.1:{metrics_port}/metrics", args)
        await asyncio.sleep(5)  # Ray's last export and Prometheus's last scrape
        start, end = done[0]["start"], time.time()
        results = query_panels(prometheus, start, end)
        capacity = capacity_report(prometheus, end - start)
    print(capacity)
    command = (
        f"python -m bench.dashboard --phase-seconds {args.phase_seconds:g} "
        f"--max-tokens {args.max_tokens}"
    )
    payload = {"command": command, "machine": info, "prometheus_step_s": STEP_S,
               "rate_interval": RATE_INTERVAL, "phases": done, "capacity": capacity,
               "queries": results}  # fmt: skip
    (OUT / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    for path in draw_rows(load_dashboard(), results, done, OUT):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    empty = [r["title"] for r in results if not r["finite_points"]]
    print("panels without data:", empty or "none")


if __name__ == "__main__":
    asyncio.run(main())
