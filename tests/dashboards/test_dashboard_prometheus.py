"""The dashboard against real data: a real Prometheus scrapes a Switchboard that
overflows under load, then every panel's query must return numbers; and
``switchboard capacity`` reads the same Prometheus and a scrape of the same port."""

import asyncio
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.dashboard_panels import concrete, finite_points, load_dashboard, panel_queries
from harness.overload import closed_loop, overflowing_app
from harness.prometheus import PrometheusProcess, missing_reason, prometheus_binary
from router.cli.capacity import plan
from router.cli.capacity_sources import from_prometheus, from_snapshots

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMOL = "smollm2-135m"
# Local room: 2 replicas x (2 running + 1 waiting) = 6. vLLM's CPU build, both engines on
# one core, mostly shows 1 running and 1 waiting per replica: 30 s of one-second gauge
# samples so that a peak with every slot taken is seen (20 s missed it in one of two runs).
CLIENTS, LOAD_S = 10, 30


@dataclass
class Run:
    prometheus: PrometheusProcess
    scrape_url: str
    started: float
    ended: float
    statuses: list[int]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if prometheus_binary() is None:
        if os.environ.get("CI"):
            pytest.fail(missing_reason())
        pytest.skip(missing_reason())
    with overflowing_app(tmp_path_factory.mktemp("cfg")) as (url, metrics_port):
        target = f"127.0.0.1:{metrics_port}"
        with PrometheusProcess([target]) as prometheus:
            asyncio.run(closed_loop(url, clients=1, seconds=0.1, max_tokens=8))  # warm-up
            started = time.time()
            statuses = asyncio.run(closed_loop(url, CLIENTS, LOAD_S, max_tokens=24))
            ended = time.time()
            # Ray exports every second here and Prometheus scrapes every second: wait
            # (bounded) until the last requests are in Prometheus.
            total = f"sum(ray_switchboard_requests_total) >= {len(statuses) + 1}"
            assert prometheus.wait_for(total, timeout_s=30), prometheus.log()[-2000:]
            yield Run(prometheus, f"http://{target}/metrics", started, ended, statuses)


def test_the_load_overflowed_and_nothing_was_lost(run: Run) -> None:
    assert set(run.statuses) <= {200, 429}
    assert run.statuses.count(200) >= len(run.statuses) * 0.9


def test_every_panel_query_returns_data(run: Run) -> None:
    span = time.time() - run.started
    empty = []
    for query in panel_queries(load_dashboard()):
        expr = concrete(query.expr, rate_interval="10s", range_=f"{span:.0f}s")
        series = run.prometheus.query_range(expr, run.started, time.time(), step=2)
        if not finite_points(series):
            empty.append(f"{query.title} [{query.ref_id}]: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_capacity_from_prometheus_sees_the_overflow(run: Run) -> None:
    window = f"{time.time() - run.started + 5:.0f}s"
    observed = from_prometheus(run.prometheus.url, window)
    (load,) = observed.loads
    assert load.model == SMOL and load.replicas == 2 and load.slots_per_replica == 2
    # Gauges are sampled once a second, and vLLM admits a request that just arrived at its
    # next step (it shows as waiting until then), so the instant with all four slots
    # running may fall between samples; what must show is a full batch's worth running,
    # and running + waiting reaching every local slot.
    assert load.peak_utilisation is not None and load.peak_utilisation >= 0.5
    assert load.peak_busy >= load.replicas * load.slots_per_replica
    assert load.mean_utilisation is not None and 0 < load.mean_utilisation <= 1
    assert load.peak_queue >= 1 and load.overflowed > 0
    capacity = plan(load, target_utilisation=0.7)
    # Demand beyond local room was turned away, so planning for it asks for more replicas.
    assert capacity.replicas_needed is not None and capacity.replicas_needed > 2
    # The TTFT predictor's series are there too (this app sets no target of its own): a
    # request held its slot longer than its prefill took. A TTFT p95 target of one prefill
    # plus one service time (relative, since this machine's speed is not CI's) needs more
    # slots than the demand, which is above the 4 there are.
    assert load.ttft_target_s is None and load.prefill_s is not None
    assert load.service_s is not None and load.service_s > load.prefill_s > 0
    target_s = load.prefill_s + load.service_s
    for_ttft = plan(load, 0.7, ttft_target_s=target_s).replicas_for_ttft
    assert for_ttft is not None and for_ttft > 2


def test_capacity_from_a_scrape_matches_prometheus(run: Run, tmp_path: Path) -> None:
    with urllib.request.urlopen(run.scrape_url, timeout=10) as reply:
        snapshot = tmp_path / "metrics.txt"
        snapshot.write_bytes(reply.read())
    (load,) = from_snapshots([snapshot]).loads
    # One scrape: totals since start. With one local model every overflow left SmolLM2,
    # and each overflowed request was served with route "overflow": Prometheus (which
    # scraped the same port a moment earlier) counts the same number.
    served = run.prometheus.query('sum(ray_switchboard_requests_total{route="overflow"})')
    assert load.overflowed == float(served[0]["value"][1]) > 0
    assert load.replicas == 2 and load.slots_per_replica == 2
