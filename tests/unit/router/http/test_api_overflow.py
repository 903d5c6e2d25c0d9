"""Load-aware dispatch through the live HTTP API (no Ray): the real small model, made
easy to saturate, and the fake provider process as the overflow target."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from harness.configs import smol_only_raw
from harness.fake_provider.process import FakeProviderProcess
from router.config_loader import parse_config
from router.metrics.instruments import PrometheusInstruments
from router.policy_config import KeyPolicy
from serving.engine import Engine
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api
from tests.unit.router.http.test_api import SMOL, external

pytestmark = pytest.mark.slow
ECONOMY = {"x-switchboard-quality": "0"}  # SmolLM2 first, the provider next


def tight_config(**provider: Any) -> Any:
    """SmolLM2 takes one request at a time and counts one more as a full queue."""
    raw = smol_only_raw(
        deployment={"max_ongoing_requests": 1, "max_queued_requests": 4, "num_cpus": 1},
        saturation={"max_waiting_per_replica": 1},
    )
    raw["external_providers"][0].update(provider)
    return parse_config(raw)


@pytest.fixture(scope="module")
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture(scope="module")
def api(smol_engine: TransformersEngine, registry: CollectorRegistry) -> Iterator[str]:
    with FakeProviderProcess("--rate-limit-rate", "0") as fake:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(fake)}
        instruments = PrometheusInstruments(registry)
        with serve_api(context(engines, config=tight_config(), instruments=instruments)) as url:
            yield url


async def post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], **fields: Any
) -> tuple[int, dict[str, str], bytes]:
    body = {"model": "auto", "messages": [{"role": "user", "content": "Tell a story."}], **fields}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as reply:
        return reply.status, dict(reply.headers), await reply.read()


def parse_keys(policies: dict[str, Any]) -> dict[str, KeyPolicy]:
    return {name: KeyPolicy.model_validate(policy) for name, policy in policies.items()}


@asynccontextmanager
async def busy_small_model(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[None]:
    """Two streams on SmolLM2 held open: one running, one queued in front of it."""
    body = {"model": SMOL, "stream": True, "max_tokens": 32,
            "messages": [{"role": "user", "content": "Count slowly."}]}  # fmt: skip
    url = f"{url}/v1/chat/completions"
    replies = [await session.post(url, json=body, headers=headers) for _ in range(2)]
    try:
        assert all(r.status == 200 for r in replies)
        yield
    finally:
        for reply in replies:
            await reply.read()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


async def test_a_saturated_local_model_overflows_to_the_provider(
    api: str, registry: CollectorRegistry
) -> None:
    overflow = {"reason": "queue", "target": "external"}
    served = {"model": "external", "route": "overflow", "outcome": "ok"}
    before = [sample(registry, "switchboard_overflow_total", **overflow),
              sample(registry, "switchboard_requests_total", **served)]  # fmt: skip
    async with aiohttp.ClientSession() as session, busy_small_model(session, api):
        status, headers, _ = await post(session, api, ECONOMY, max_tokens=4)
    assert status == 200
    assert headers["x-switchboard-model"] == "external"
    assert headers["x-switchboard-route"] == "overflow"
    assert headers["x-switchboard-overflow"] == f"{SMOL}=queue"
    # ... and in the metrics: one more overflow to the provider, one more served there.
    after = [sample(registry, "switchboard_overflow_total", **overflow),
             sample(registry, "switchboard_requests_total", **served)]  # fmt: skip
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
    assert sample(registry, "switchboard_completion_tokens_total", model="external") > 0


async def test_nothing_free_is_a_fast_429_with_retry_after(
    api: str, registry: CollectorRegistry
) -> None:
    refused = {"model": SMOL, "outcome": "429"}
    before = sample(registry, "switchboard_requests_total", **refused)
    local_only = {**ECONOMY, "x-switchboard-local-only": "true"}
    async with aiohttp.ClientSession() as session, busy_small_model(session, api):
        started = time.perf_counter()
        status, headers, raw = await post(session, api, local_only, max_tokens=4)
        elapsed = time.perf_counter() - started
    assert status == 429 and headers["Retry-After"] == "1"
    assert b"smollm2-135m: queue" in raw
    assert elapsed < 0.5  # refused at once, not after a queue timeout
    assert sample(registry, "switchboard_requests_total", **refused) == before + 1


async def test_when_load_drains_the_small_model_serves_again(api: str) -> None:
    async with aiohttp.ClientSession() as session:
        status, headers, _ = await post(session, api, ECONOMY, max_tokens=4)
    assert status == 200 and headers["x-switchboard-model"] == SMOL
    assert "x-switchboard-overflow" not in headers


async def test_a_failing_provider_fails_over_then_its_circuit_opens(
    smol_engine: TransformersEngine,
) -> None:
    config = tight_config(circuit_breaker={"failure_threshold": 2, "open_s": 60})
    quality = {"x-switchboard-quality": "1"}  # the provider first, SmolLM2 next
    with FakeProviderProcess("--error-rate", "1") as broken:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(broken)}
        with serve_api(context(engines, config=config)) as url:
            async with aiohttp.ClientSession() as session:
                answers = [await post(session, url, quality, max_tokens=4) for _ in range(3)]
                pinned = await post(session, url, {}, model="external", max_tokens=4)
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert all(headers["x-switchboard-model"] == SMOL for _, headers, _ in answers)
    overflow = [headers["x-switchboard-overflow"] for _, headers, _ in answers]
    assert overflow == ["external=unavailable", "external=unavailable", "external=circuit_open"]
    status, headers, raw = pinned
    assert status == 503 and headers["Retry-After"] == "1" and b"circuit_open" in raw


async def test_sheddable_keys_are_refused_first_and_limits_answer_429(
    smol_engine: TransformersEngine,
) -> None:
    config = tight_config()
    policies = {"batch": {"sheddable": True}, "metered": {"requests_per_minute": 2}}
    config = config.model_copy(
        update={"auth": config.auth.model_copy(update={"keys": parse_keys(policies)})}
    )
    with FakeProviderProcess() as fake:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(fake)}
        keys = ("batch:sk-batch", "metered:sk-metered", "sk-plain")
        with serve_api(context(engines, keys=keys, config=config)) as url:
            async with aiohttp.ClientSession() as session:
                plain, batch = (
                    {**ECONOMY, "Authorization": "Bearer sk-plain"},
                    {**ECONOMY, "Authorization": "Bearer sk-batch"},
                )
                async with busy_small_model(session, url, plain):
                    shed = await post(session, url, batch, max_tokens=4)
                    served = await post(session, url, plain, max_tokens=4)
                metered = {**ECONOMY, "Authorization": "Bearer sk-metered"}
                limited = [await post(session, url, metered, max_tokens=2) for _ in range(3)]
    assert shed[0] == 429  # no overflow to the paid provider for a sheddable key
    assert served[0] == 200 and served[1]["x-switchboard-model"] == "external"
    assert [status for status, _, _ in limited] == [200, 200, 429]
    # One request refills in 30 s at 2/min, less the time the two served ones took.
    assert 25 <= int(limited[2][1]["Retry-After"]) <= 30
    assert b"rate_limit_exceeded" in limited[2][2]


async def test_in_flight_counts_return_to_zero_whichever_way_a_request_ends(
    smol_engine: TransformersEngine,
) -> None:
    registry = CollectorRegistry()
    instruments = PrometheusInstruments(registry)
    ctx = context({SMOL: smol_engine}, config=tight_config(), instruments=instruments)
    saturation = ctx.service.dispatcher.saturation
    body = {"model": SMOL, "max_tokens": 24, "messages": [{"role": "user", "content": "Count."}]}
    with serve_api(ctx) as url:
        async with aiohttp.ClientSession() as session:
            await session.post(f"{url}/v1/chat/completions", json=body)  # non-stream, read
            reply = await session.post(f"{url}/v1/chat/completions", json={**body, "stream": True})
            await reply.content.readany()  # the first bytes, then the client leaves
            reply.close()
        for _ in range(200):  # bounded: 10 s
            if saturation.in_flight(SMOL) == 0:
                break
            await asyncio.sleep(0.05)
        assert saturation.in_flight(SMOL) == 0
        for outcome in ("ok", "cancelled"):  # each request metered once, as it ended
            labels = {"model": SMOL, "route": "pinned", "outcome": outcome}
            assert sample(registry, "switchboard_requests_total", **labels) == 1
        async with aiohttp.ClientSession() as session:  # and it still serves
            status, _, _ = await post(session, url, {}, model=SMOL, max_tokens=2)
        assert status == 200
