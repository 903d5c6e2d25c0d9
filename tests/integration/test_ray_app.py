"""The real application on a real local Ray Serve: router deployment -> model
deployments -> real models, over Serve's HTTP proxy."""

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import pytest

from harness.configs import transformers_fleet_raw, write_config
from harness.ray_app import running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMOL = "smollm2-135m"
QWEN = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    raw = transformers_fleet_raw()
    # A tiny queue on the small model so back-pressure is easy to provoke.
    raw["models"][0]["deployment"].update(max_ongoing_requests=2, max_queued_requests=1)
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    with running_app(config) as url:
        yield url


async def post(
    url: str, body: dict[str, object], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as reply,
    ):
        return reply.status, {k.lower(): v for k, v in reply.headers.items()}, await reply.read()


def chat(model: str, text: str, **fields: object) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "temperature": 0,
        **fields,
    }


async def test_readyz_reports_every_model(base_url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/readyz") as reply:
        assert reply.status == 200
        assert (await reply.json())["models"] == {SMOL: "ready", QWEN: "ready"}


@pytest.mark.parametrize(
    ("model", "knob", "served_by", "route"),
    [
        (SMOL, None, SMOL, "pinned"),
        (QWEN, None, QWEN, "pinned"),
        # The knob's ends are exact whatever the estimate: none or all to the large model.
        ("auto", "0", SMOL, "classifier"),
        ("auto", "1", QWEN, "classifier"),
    ],
)
async def test_each_model_deployment_answers(
    base_url: str, model: str, knob: str | None, served_by: str, route: str
) -> None:
    extra = {} if knob is None else {"x-switchboard-quality": knob}
    status, headers, raw = await post(
        f"{base_url}/v1/chat/completions", chat(model, "Name a colour.", max_tokens=8), extra
    )
    assert status == 200, raw
    body = json.loads(raw)
    assert body["model"] == served_by
    assert headers["x-switchboard-model"] == served_by
    assert headers["x-switchboard-route"] == route
    assert float(headers["x-switchboard-decision-ms"]) > 0
    assert body["usage"]["completion_tokens"] <= 8
    assert body["choices"][0]["message"]["content"]


async def test_stream_through_ray_has_one_done(base_url: str) -> None:
    body = chat(
        SMOL, "Count to ten.", max_tokens=12, stream=True, stream_options={"include_usage": True}
    )
    status, headers, raw = await post(f"{base_url}/v1/chat/completions", body)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [e.removeprefix("data: ") for e in raw.decode().split("\n\n") if e]
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    usage = json.loads(events[-2])["usage"]
    assert usage["completion_tokens"] == 12


async def test_engine_error_crosses_ray_as_openai_error(base_url: str) -> None:
    status, _, raw = await post(
        f"{base_url}/v1/chat/completions", chat(SMOL, "word " * 9000, max_tokens=4)
    )
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["code"] == "context_length_exceeded"
    assert "8192" in error["message"]


async def test_full_queue_answers_429_with_retry_after(base_url: str) -> None:
    """max_ongoing 2 + queue 1: of 8 simultaneous requests some are refused at once with
    an OpenAI 429; every other one completes. (Ray counts the queue before assignment,
    so a simultaneous burst may be refused more than strictly needed.)"""
    url = f"{base_url}/v1/chat/completions"
    burst = asyncio.gather(
        *(post(url, chat(SMOL, f"Tell a story {i}.", max_tokens=24)) for i in range(8))
    )
    await asyncio.sleep(0.3)
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/readyz") as reply:
        assert reply.status == 200  # busy is not unready: the probe skips the model queue
    replies = await burst
    statuses = sorted(status for status, _, _ in replies)
    assert set(statuses) == {200, 429}, replies
    for status, headers, raw in replies:
        if status == 429:
            assert headers["retry-after"] == "1"
            assert json.loads(raw)["error"]["code"] == "overloaded"
    # Still serving afterwards.
    status, _, _ = await post(url, chat(SMOL, "Hi", max_tokens=2))
    assert status == 200


async def test_exactly_one_request_id_header(base_url: str) -> None:
    body = chat(SMOL, "Hi", max_tokens=2)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base_url}/v1/chat/completions", json=body) as reply,
    ):
        assert reply.status == 200
        assert len(reply.headers.getall("x-request-id")) == 1
