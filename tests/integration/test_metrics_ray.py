"""Metrics end to end: a running app with two router replicas and two model replicas,
scraped from the one URL of Ray's metrics agent. Every replica's series is there, once:
the request counts summed over router replicas equal the requests sent."""

import asyncio
import os
import time
from collections.abc import Iterator
from unittest.mock import patch

import aiohttp
import pytest
from prometheus_client.samples import Sample

from harness.configs import smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess
from harness.ports import free_port
from harness.prometheus import scrape
from harness.ray_app import running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMOL = "smollm2-135m"
REQUESTS = 12


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, scrape URL)."""
    raw = smol_only_raw(
        deployment={"num_replicas": 2, "max_ongoing_requests": 4, "num_cpus": 0.5},
        transformers={"dtype": "float32", "max_batch_size": 2, "torch_threads": 1},
        saturation={"max_waiting_per_replica": 0},
    )
    raw["router"]["num_replicas"] = 2
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    metrics_port = free_port()
    with FakeProviderProcess("--ttft-ms", "20", "--token-latency-ms", "5") as fake:
        env = {"SWITCHBOARD_EXTERNAL_BASE_URL": fake.base_url,
               "SWITCHBOARD_EXTERNAL_MODEL": "fake-model"}  # fmt: skip
        # The local Ray's workers inherit the environment.
        with patch.dict(os.environ, env), running_app(config, metrics_port=metrics_port) as url:
            yield url, f"http://127.0.0.1:{metrics_port}/metrics"


def series(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and labels.items() <= s.labels.items()]


async def ask(session: aiohttp.ClientSession, url: str, i: int) -> int:
    body = {"model": "auto", "max_tokens": 12, "stream": i % 2 == 0,
            "messages": [{"role": "user", "content": f"Tell story number {i}."}]}  # fmt: skip
    headers = {"x-switchboard-quality": "0"}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
        await r.read()
        return r.status


async def test_one_scrape_sees_every_replica_once(app: tuple[str, str]) -> None:
    url, scrape_url = app
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(*(ask(session, url, i) for i in range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    # Ray's agent exports every few seconds: wait (bounded) until all requests show.
    deadline = time.monotonic() + 60
    while True:
        samples = scrape(scrape_url)
        requests = series(samples, "ray_switchboard_requests_total", outcome="ok")
        if sum(s.value for s in requests) >= REQUESTS or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    assert sum(s.value for s in requests) == REQUESTS  # no double counting
    routers = {s.labels["replica"] for s in requests}
    assert len(routers) == 2, routers  # both router replicas took traffic
    assert {s.labels["deployment"] for s in requests} == {"RouterReplica"}

    overflowed = series(samples, "ray_switchboard_overflow_total", target="external")
    served_by_provider = series(requests, "ray_switchboard_requests_total", model="external")
    assert sum(s.value for s in overflowed) == sum(s.value for s in served_by_provider) > 0

    ttft = series(samples, "ray_switchboard_ttft_seconds_count")
    assert sum(s.value for s in ttft) == REQUESTS
    tokens = series(samples, "ray_switchboard_completion_tokens_total")
    assert sum(s.value for s in tokens) > 0
    cost = sum(s.value for s in series(samples, "ray_switchboard_estimated_cost_total"))
    baseline = sum(s.value for s in series(samples, "ray_switchboard_baseline_cost_total"))
    assert 0 < cost <= baseline

    engines = series(samples, "ray_switchboard_engine_batch_slots", model=SMOL)
    assert len({s.labels["replica"] for s in engines}) == 2  # each model replica, once
    assert all(s.value == 2 for s in engines)
    saturated = series(samples, "ray_switchboard_model_saturated", model=SMOL)
    assert len({s.labels["replica"] for s in saturated}) == 2  # as each router sees it
    circuit = series(samples, "ray_switchboard_circuit_state", provider="external")
    assert circuit and all(s.value == 0 for s in circuit)
    decisions = series(samples, "ray_switchboard_decision_seconds_count")
    assert sum(s.value for s in decisions) == REQUESTS
