"""Faults through the real stack: Ray Serve with two router replicas, the real small
model, and the fake provider process as the external target, driven through healthy,
failing, slow, down and recovered phases; then a model replica and a router replica
are killed and Ray Serve restarts them."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import patch

import aiohttp
import pytest
import ray
from ray import serve

from harness.configs import smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess
from harness.ray_app import running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMOL = "smollm2-135m"
ROUTER = "RouterReplica"  # the router deployment's name in Ray Serve
KEYS = {"app": "app-secret", "nightly-batch": "batch-secret"}
OPEN_S = 2.0  # how long the provider's circuit stays open before a probe
FIRST_BYTE_S = 1.0
FIRST_TOKEN_S = 1.5
REQUEST_TIMEOUT_S = 8.0  # far above every other test's generation here
TOTAL_S = 3.0


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProviderProcess]:
    with FakeProviderProcess("--ttft-ms", "5", "--token-latency-ms", "2") as fake:
        yield fake


@pytest.fixture(scope="module")
def base_url(
    provider: FakeProviderProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    raw = smol_only_raw(
        deployment={"max_ongoing_requests": 4, "max_queued_requests": 4, "num_cpus": 1},
        transformers={"dtype": "float32", "max_batch_size": 2, "torch_threads": 1},
        saturation={"max_waiting_per_replica": 1},
    )
    raw["router"]["num_replicas"] = 2
    raw["router"]["request_timeout_s"] = REQUEST_TIMEOUT_S
    raw["external_providers"][0].update(
        circuit_breaker={"failure_threshold": 2, "open_s": OPEN_S, "max_open_s": OPEN_S},
        timeouts={
            "connect_s": 1.0,
            "first_byte_s": FIRST_BYTE_S,
            "idle_s": 2.0,
            "first_token_s": FIRST_TOKEN_S,
            "total_s": TOTAL_S,
        },
    )
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    env = {  # inherited by the local Ray's workers
        "SWITCHBOARD_EXTERNAL_MODEL": "fake-model",
        "SWITCHBOARD_EXTERNAL_BASE_URL": provider.base_url,
        "SWITCHBOARD_API_KEYS": ",".join(f"{name}:{secret}" for name, secret in KEYS.items()),
    }
    with patch.dict(os.environ, env), running_app(config) as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as client:
        yield client


@pytest.fixture(autouse=True)
def healthy_provider(provider: FakeProviderProcess) -> Iterator[None]:
    """Each test starts and ends with a healthy provider whose circuit has closed again."""
    yield
    provider.set_faults(error_rate=0, rate_limit_rate=0, hang_rate=0, ttft_ms=5, hostile="")
    time.sleep(OPEN_S)


Reply = tuple[int, dict[str, str], Any]


async def ask(
    session: aiohttp.ClientSession,
    url: str,
    model: str = "external",
    key: str = "app",
    max_tokens: int = 8,
    quality: str = "0",
    content: str = "Say three words please",
) -> Reply:
    body = {"model": model, "max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": "user", "content": content}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {KEYS[key]}", "x-switchboard-quality": quality}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
        return r.status, dict(r.headers), await r.json(content_type=None)


def provider_requests(provider: FakeProviderProcess) -> int:
    return int(provider.get("/stats").get("requests", 0))


async def test_provider_500s_open_the_circuit_which_recovers(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    status, headers, _ = await ask(session, base_url)
    assert status == 200 and headers["x-switchboard-model"] == "external"
    provider.set_faults(error_rate=1)
    before = provider_requests(provider)
    replies = [await ask(session, base_url) for _ in range(8)]
    for status, headers, body in replies:
        assert status == 503, body
        assert body["error"]["type"] and "external" in body["error"]["message"]
        assert headers["Retry-After"] == "1"
    # Two router replicas, each opening its own circuit after two failures: the
    # provider saw at most four of the eight requests.
    assert provider_requests(provider) - before <= 4
    assert any("circuit_open" in body["error"]["message"] for _, _, body in replies)

    provider.set_faults(error_rate=0)
    await asyncio.sleep(OPEN_S + 0.2)  # open -> half-open: the next request is the probe
    replies = [await ask(session, base_url) for _ in range(4)]
    assert [status for status, _, _ in replies] == [200] * 4


async def test_provider_429_is_a_clean_429_with_retry_after(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    provider.set_faults(rate_limit_rate=1)
    status, headers, body = await ask(session, base_url)
    assert status == 429 and headers["Retry-After"] == "1"
    assert body["error"]["type"] == "rate_limit_error"


STREAM_FAULTS = ("malformed_choices", "object_arguments", "number_content", "done_only",
                 "huge_line", "keepalive", "role_only", "endless")  # fmt: skip


@pytest.mark.parametrize("mode", STREAM_FAULTS)
async def test_a_hostile_provider_gets_a_clean_error_in_time_and_failover(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession, mode: str
) -> None:
    provider.set_faults(hostile=mode)
    started = time.perf_counter()
    status, _, body = await ask(session, base_url)  # pinned: nothing else may answer
    assert status == 503, body
    assert "external" in body["error"]["message"]
    assert time.perf_counter() - started < TOTAL_S + 2.0
    # With a local model to fall back on, a fault before the first token is a failover.
    # An endless stream has answered before its deadline: it ends with a clean 503,
    # unless the pinned failure already opened this router replica's circuit.
    status, headers, body = await ask(session, base_url, model="auto", quality="1")
    if mode == "endless" and status == 503:
        assert "timeout" in body["error"]["message"], body
        return
    assert status == 200, body
    assert headers["x-switchboard-model"] == SMOL
    assert headers["x-switchboard-overflow"].startswith("external=")


async def test_hostile_but_answering_providers_are_served(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    provider.set_faults(hostile="split_character")
    status, _, body = await ask(session, base_url)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "smile \U0001f600 done"
    # No usage at all: Ray's counters refuse inc(0), which must not turn this into a 500.
    provider.set_faults(hostile="", no_usage=True)
    status, _, body = await ask(session, base_url)
    provider.set_faults(no_usage=False)
    assert status == 200, body
    assert body["usage"]["prompt_tokens"] == 0 and body["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("mode", ["absurd_retry_after", "dated_retry_after"])
async def test_an_absurd_retry_after_is_a_capped_429(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession, mode: str
) -> None:
    provider.set_faults(hostile=mode)
    status, headers, body = await ask(session, base_url)
    assert status == 429, body
    assert headers["Retry-After"] == "1"  # the router's own: the provider is skipped


async def test_slow_provider_fails_at_the_first_byte_timeout_not_later(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    provider.set_faults(ttft_ms=10_000)
    started = time.perf_counter()
    status, _, body = await ask(session, base_url)
    elapsed = time.perf_counter() - started
    assert status == 503, body
    assert FIRST_BYTE_S <= elapsed < FIRST_BYTE_S + 2
    # Local traffic is untouched by the slow provider.
    status, headers, _ = await ask(session, base_url, model="auto")
    assert status == 200 and headers["x-switchboard-model"] == SMOL


async def test_provider_down_then_back(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    provider.stop()
    try:
        started = time.perf_counter()
        status, _, body = await ask(session, base_url)
        assert status == 503 and "external" in body["error"]["message"]
        assert time.perf_counter() - started < 1.0  # connection refused: no waiting
        status, headers, _ = await ask(session, base_url, model="auto")
        assert status == 200 and headers["x-switchboard-model"] == SMOL
    finally:
        provider.restart()
    await asyncio.sleep(OPEN_S + 0.2)
    status, headers, _ = await ask(session, base_url)
    assert status == 200 and headers["x-switchboard-model"] == "external"


async def burst(session: aiohttp.ClientSession, url: str, key: str, count: int = 16) -> list[Reply]:
    return await asyncio.gather(
        *(ask(session, url, model="auto", key=key, max_tokens=24) for _ in range(count))
    )


async def test_overload_with_a_failing_provider_ends_cleanly(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    provider.set_faults(error_rate=1)
    replies = await burst(session, base_url, "app")
    statuses = {status for status, _, _ in replies}
    assert statuses <= {200, 429, 503}, replies  # never a 500, never a lost request
    assert 200 in statuses  # the local model kept its share
    assert all(h["x-switchboard-model"] == SMOL for s, h, _ in replies if s == 200)


async def test_local_only_key_never_reaches_the_provider_under_overload(
    base_url: str, provider: FakeProviderProcess, session: aiohttp.ClientSession
) -> None:
    before = provider_requests(provider)
    replies = await burst(session, base_url, "nightly-batch")
    assert provider_requests(provider) == before
    statuses = [status for status, _, _ in replies]
    assert set(statuses) <= {200, 429} and 429 in statuses  # shed, not sent out
    # The same burst from an ordinary key overflows.
    replies = await burst(session, base_url, "app")
    assert "external" in {h.get("x-switchboard-model") for _, h, _ in replies}


def replica_actors(deployment: str) -> list[str]:
    prefix = f"SERVE_REPLICA::switchboard#{deployment}#"
    names = ray.util.list_named_actors(all_namespaces=True)
    return [a["name"] for a in names if a["name"].startswith(prefix)]


def kill_replica(name: str) -> None:
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)


async def stream_events(session: aiohttp.ClientSession, url: str) -> AsyncIterator[str]:
    body = {"model": SMOL, "max_tokens": 200, "stream": True,
            "messages": [{"role": "user", "content": "Write a long story."}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {KEYS['app']}"}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        async for line in r.content:
            if line.strip():
                yield line.decode().strip()


async def wait_until_served_by(
    session: aiohttp.ClientSession, url: str, model: str, within_s: float
) -> list[Reply]:
    """Ask once a second until ``model`` answers; every reply on the way must be clean."""
    replies: list[Reply] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        reply = await ask(session, url, model="auto")
        replies.append(reply)
        status, headers, body = reply
        assert status in {200, 429, 503}, body
        if status == 200 and headers["x-switchboard-model"] == model:
            return replies
        await asyncio.sleep(1)
    raise AssertionError(f"{model} did not serve again within {within_s}s: {replies[-3:]}")


async def test_a_local_generation_past_the_request_timeout_frees_its_slot(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    started = time.perf_counter()
    # Up to 2,000 tokens at SmolLM2's tens of tokens a second: far past the timeout
    # (greedy counting loops on rather than stopping).
    count = "Count from 1 to 1000, separated by spaces."
    status, _, body = await ask(session, base_url, model=SMOL, max_tokens=2000, content=count)
    assert status == 503 and body["error"]["code"] == "timeout", body
    assert REQUEST_TIMEOUT_S <= time.perf_counter() - started < REQUEST_TIMEOUT_S + 5
    handle = serve.get_deployment_handle(f"model-{SMOL}", app_name="switchboard")
    for _ in range(50):  # the replica drops the sequence once Ray cancels the call
        stats = await handle.stats.remote()
        if stats.running == 0:
            break
        await asyncio.sleep(0.1)
    assert (stats.running, stats.waiting) == (0, 0)


async def test_model_replica_killed_mid_stream(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    [replica] = replica_actors(f"model-{SMOL}")
    events: list[str] = []
    async for event in stream_events(session, base_url):
        events.append(event)
        if len(events) == 2:
            kill_replica(replica)
    # Not a silent cut: an OpenAI error event, then the end of the stream.
    assert '"error"' in events[-2] and events[-1] == "data: [DONE]", events[-3:]
    # While Ray Serve restarts the replica, requests overflow to the provider or get a
    # clean refusal; then the new replica serves.
    replies = await wait_until_served_by(session, base_url, SMOL, within_s=120)
    assert replica_actors(f"model-{SMOL}") != [replica]
    served = {h["x-switchboard-model"] for s, h, _ in replies if s == 200}
    assert served <= {SMOL, "external"}


async def test_router_replica_killed_the_other_keeps_serving(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    routers = replica_actors(ROUTER)
    assert len(routers) == 2
    kill_replica(routers[0])
    replies = [await ask(session, base_url, model="auto") for _ in range(6)]
    assert all(status == 200 for status, _, _ in replies), replies
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # Serve replaces the dead replica
        alive = replica_actors(ROUTER)
        if len(alive) == 2 and routers[0] not in alive and router_status() == "HEALTHY":
            break
        await asyncio.sleep(1)
    else:
        raise AssertionError(f"router replica not replaced: {alive}, {router_status()}")
    replies = [await ask(session, base_url, model="auto") for _ in range(6)]
    assert all(status == 200 for status, _, _ in replies), replies


def router_status() -> str:
    return str(serve.status().applications["switchboard"].deployments[ROUTER].status.value)


async def ready(session: aiohttp.ClientSession, url: str) -> bool:
    async with session.get(f"{url}/readyz") as reply:
        return reply.status == 200
