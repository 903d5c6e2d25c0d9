"""A Switchboard that overflows, for the dashboard test and ``bench.dashboard``: two
SmolLM2 replicas on vLLM's CPU build (the default fleet's engine, so the vLLM-only panels
get data too) with batches of 2 and room for one waiting request each, the fake provider
process as the external overflow target, and Ray's metrics agent on a known port,
exporting every second (Ray's default is 10 s; Prometheus scrapes every 1 s)."""

import asyncio
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import aiohttp

from harness.configs import smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess
from harness.ports import free_port
from harness.ray_app import running_app

PROVIDER_PACING = ("--ttft-ms", "100", "--token-latency-ms", "15")
PROMPT = "Tell a short story about a lighthouse keeper, number {i}."


@contextmanager
def overflowing_app(workdir: Path) -> Iterator[tuple[str, int]]:
    """(the app's base URL, Ray's metrics port)."""
    # Both replicas' engines on core 0 (one thread each): core 1 stays for Ray, the
    # router, the provider and the clients.
    vllm = {"dtype": "float32", "enforce_eager": True, "max_num_seqs": 2,
            "cpu_kv_cache_gib": 1, "cpu_threads_bind": "0"}  # fmt: skip
    raw = smol_only_raw(
        engine="vllm",
        vllm=vllm,
        deployment={"num_replicas": 2, "max_ongoing_requests": 3, "num_cpus": 0.5},
        # Two engines on one core answer the stats probe late under load: 3 s before their
        # stats count as stale keeps the local batches in use.
        saturation={"max_waiting_per_replica": 1, "stale_after_s": 3},
    )
    # Budgets far above what the run spends: the budget panel has data, nothing binds.
    raw["router"]["external_budget"] = {"per_hour": 100.0, "per_day": 1000.0}
    config = write_config(workdir / "models.yaml", raw)
    metrics_port = free_port()
    with FakeProviderProcess(*PROVIDER_PACING) as fake:
        env = {"SWITCHBOARD_EXTERNAL_BASE_URL": fake.base_url,
               "SWITCHBOARD_EXTERNAL_MODEL": "fake-model",
               "RAY_metrics_report_interval_ms": "1000"}  # fmt: skip
        # Read by ray.init and inherited by the local Ray's workers.
        with patch.dict(os.environ, env), running_app(config, metrics_port=metrics_port) as url:
            yield url, metrics_port


async def ask(session: aiohttp.ClientSession, url: str, i: int, max_tokens: int) -> int:
    """One streamed request. Three in four ask for the economy end of the quality knob
    (SmolLM2 first: they reach the provider only by overflow); the fourth takes the
    default knob, so the classifier sends some traffic to the provider by choice."""
    body = {"model": "auto", "max_tokens": max_tokens, "stream": True,
            "messages": [{"role": "user", "content": PROMPT.format(i=i)}]}  # fmt: skip
    headers = {"x-switchboard-quality": "0"} if i % 4 else {}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as reply:
        await reply.read()
        return reply.status


async def closed_loop(url: str, clients: int, seconds: float, max_tokens: int) -> list[int]:
    """``clients`` clients, each sending its next request when the last one ends, until
    ``seconds`` have passed (a request under way then is finished: bounded, not cut)."""
    statuses: list[int] = []
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession, first: int) -> None:
        i = first
        while time.monotonic() < deadline:
            statuses.append(await ask(session, url, i, max_tokens))
            i += clients

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(client(session, c) for c in range(clients)))
    return statuses


async def open_loop(url: str, rate: float, seconds: float, max_tokens: int) -> list[int]:
    """Requests arriving at ``rate`` per second (Poisson, seeded) for ``seconds``, whether
    or not earlier ones are done: like real users, unlike closed-loop clients, who come
    back sooner when served faster and so inflate the count of turned-away requests."""
    rng = random.Random(7)
    pending: list[asyncio.Task[int]] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        i = 0
        while time.monotonic() < deadline:
            pending.append(asyncio.create_task(ask(session, url, i, max_tokens)))
            i += 1
            await asyncio.sleep(rng.expovariate(rate))
        return list(await asyncio.gather(*pending))
