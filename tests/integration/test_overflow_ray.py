"""Overload through the real stack: Ray Serve, both real models with small bounded
queues, and the fake provider process as the external overflow target."""

import asyncio
import json
import os
import time
from collections.abc import Iterator
from unittest.mock import patch

import aiohttp
import pytest

from harness.configs import transformers_fleet_raw, write_config
from harness.fake_provider.process import FakeProviderProcess
from harness.ray_app import peak_engine_load, running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMOL, QWEN = "smollm2-135m", "qwen2.5-coder-0.5b"
# Batches of 2, room for 2 more inside the replica (where the engine counts them as
# waiting, and the stats probe still gets through); saturated from 1 waiting.
TIGHT = {"deployment": {"max_ongoing_requests": 4, "max_queued_requests": 4, "num_cpus": 1},
         "transformers": {"dtype": "float32", "max_batch_size": 2, "torch_threads": 1},
         "saturation": {"max_waiting_per_replica": 1}}  # fmt: skip


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    raw = transformers_fleet_raw()
    for model in raw["models"]:
        model.update(TIGHT)
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    env = {"SWITCHBOARD_EXTERNAL_MODEL": "fake-model"}
    with FakeProviderProcess("--ttft-ms", "20", "--token-latency-ms", "10") as fake:
        env["SWITCHBOARD_EXTERNAL_BASE_URL"] = fake.base_url
        # The local Ray's workers inherit the environment.
        with patch.dict(os.environ, env), running_app(config) as url:
            yield url


async def ask(
    session: aiohttp.ClientSession, url: str, i: int
) -> tuple[int, dict[str, str], float]:
    body = {"model": "auto", "max_tokens": 16, "stream": True,
            "messages": [{"role": "user", "content": f"Tell story number {i}."}]}  # fmt: skip
    started = time.perf_counter()
    async with session.post(
        f"{url}/v1/chat/completions", json=body, headers={"x-switchboard-quality": "0"}
    ) as reply:
        raw = await reply.read()
        if reply.status == 200:
            events = [e for e in raw.decode().split("\n\n") if e]
            assert events[-1] == "data: [DONE]" and '"error"' not in raw.decode()
        return reply.status, dict(reply.headers), time.perf_counter() - started


async def test_four_times_the_local_capacity_overflows_and_nothing_is_lost(
    base_url: str,
) -> None:
    # Local capacity: 2 running + 1 waiting per model, 2 models = 6; offered: 24 at once.
    async with aiohttp.ClientSession() as session:
        replies = await asyncio.gather(*(ask(session, base_url, i) for i in range(24)))
    statuses = [status for status, _, _ in replies]
    assert set(statuses) <= {200, 429}, statuses  # a response or a clean 429, nothing else
    served_by = [h.get("x-switchboard-model") for s, h, _ in replies if s == 200]
    assert "external" in served_by  # overflow happened ...
    assert {SMOL, QWEN} & set(served_by)  # ... after the local models took their share
    for status, headers, _ in replies:
        if status == 429:
            assert headers["Retry-After"] == "1"
        elif headers["x-switchboard-model"] == "external":
            assert headers["x-switchboard-route"] == "overflow"
            assert "smollm2-135m=" in headers["x-switchboard-overflow"]


async def test_local_queues_stay_bounded_under_overload(base_url: str) -> None:
    """While 24 requests are offered, no engine holds more than its bounded share."""
    async with aiohttp.ClientSession() as session:
        burst = asyncio.gather(*(ask(session, base_url, i) for i in range(24)))
        _, peak = await peak_engine_load(SMOL, burst)
    assert peak <= TIGHT["deployment"]["max_ongoing_requests"]  # type: ignore[index]


async def test_readyz_and_headers_after_the_storm(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/readyz") as reply:
            assert reply.status == 200
            assert set(json.loads(await reply.read())["models"]) == {SMOL, QWEN, "external"}
        status, headers, _ = await ask(session, base_url, 99)
    assert status == 200 and headers["x-switchboard-model"] == SMOL
