"""The HTTP contract of ``router.http.api`` on a live server (no Ray): the real small model and
the fake provider process as the external model."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.configs import default_fleet_raw
from harness.fake_provider.process import FakeProviderProcess
from router.auth import ApiKeyAuth
from router.config import AuthSettings
from router.config_loader import parse_config
from serving.engine import Engine
from serving.external_engine import ExternalEngine
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api

pytestmark = pytest.mark.slow
KEY = "sk-unit"
SMOL = "smollm2-135m"


def external(provider: FakeProviderProcess, idle_s: float = 30.0) -> ExternalEngine:
    raw = default_fleet_raw()["external_providers"][0]
    raw["timeouts"] = {"idle_s": idle_s}
    config = parse_config({**default_fleet_raw(), "external_providers": [raw]})
    return ExternalEngine(provider.base_url, None, "fake-model", config.external_providers[0])


@pytest.fixture(scope="module")
def api(smol_engine: TransformersEngine) -> Iterator[str]:
    with FakeProviderProcess("--rate-limit-rate", "0") as fake:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(fake)}
        with serve_api(context(engines, keys=(KEY,), max_body_bytes=4096)) as url:
            yield url


async def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, url, json=body if raw is None else None, data=raw, headers=headers
        ) as reply,
    ):
        return reply.status, dict(reply.headers), await reply.read()


def error_of(raw: bytes) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(raw)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def sse_events(raw: bytes) -> list[str]:
    return [e.removeprefix("data: ") for e in raw.decode().split("\n\n") if e]


def chat(model: str = SMOL, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Hi there"}], **fields}


async def test_health_and_readiness(api: str) -> None:
    assert (await call("GET", f"{api}/healthz", key=None))[0] == 200
    status, _, raw = await call("GET", f"{api}/readyz", key=None)
    assert status == 200 and json.loads(raw)["models"] == {SMOL: "ready", "external": "ready"}


async def test_models_require_the_key(api: str) -> None:
    status, _, raw = await call("GET", f"{api}/v1/models", key=None)
    assert status == 401 and error_of(raw)["code"] == "invalid_api_key"
    status, _, raw = await call("GET", f"{api}/v1/models")
    ids = [m["id"] for m in json.loads(raw)["data"]]
    assert ids == [SMOL, "external", "auto", "auto-economy", "auto-quality"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/v1/chat/completions", 405, "method_not_allowed"),
        ("GET", "/v1/models/gpt-9", 404, "model_not_found"),
    ],
)
async def test_routing_errors_are_openai_errors(
    api: str, method: str, path: str, status: int, code: str
) -> None:
    got, _, raw = await call(method, f"{api}{path}")
    assert got == status and error_of(raw)["code"] == code


async def test_validation_error_is_400_naming_the_field(api: str) -> None:
    status, _, raw = await call("POST", f"{api}/v1/chat/completions", chat(temperature=7))
    error = error_of(raw)
    assert status == 400 and error["param"] == "temperature"
    assert "less than or equal to 2" in error["message"]


async def test_body_over_the_limit_is_413(api: str) -> None:
    body = chat(messages=[{"role": "user", "content": "x" * 5000}])
    status, _, raw = await call("POST", f"{api}/v1/chat/completions", body)
    assert status == 413 and error_of(raw)["code"] == "payload_too_large"


async def test_chunked_body_over_the_limit_is_413(api: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api}/v1/chat/completions", data=chunks(), headers=headers) as reply,
    ):
        assert reply.status == 413
        assert error_of(await reply.read())["code"] == "payload_too_large"


async def test_max_tokens_over_the_model_cap_is_400(api: str) -> None:
    status, _, raw = await call("POST", f"{api}/v1/chat/completions", chat(max_tokens=500))
    assert status == 400 and error_of(raw)["param"] == "max_tokens"


async def test_default_max_tokens_is_the_model_cap(api: str) -> None:
    body = chat(
        messages=[{"role": "user", "content": "Write a long essay about rivers."}], temperature=0
    )
    status, _, raw = await call("POST", f"{api}/v1/chat/completions", body)
    reply = json.loads(raw)
    assert status == 200
    assert reply["usage"]["completion_tokens"] <= 32


async def test_concurrent_requests_are_all_answered(api: str) -> None:
    bodies = [
        chat(messages=[{"role": "user", "content": f"Say {i}"}], max_tokens=6) for i in range(6)
    ]
    replies = await asyncio.gather(
        *(call("POST", f"{api}/v1/chat/completions", body) for body in bodies)
    )
    assert [status for status, _, _ in replies] == [200] * 6


async def test_external_stream_passes_through(api: str) -> None:
    body = chat(
        "external",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "one two three"}],
    )
    status, headers, raw = await call("POST", f"{api}/v1/chat/completions", body)
    assert status == 200 and headers["x-switchboard-model"] == "external"
    events = sse_events(raw)
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.split() == ["one", "two", "three"]
    assert chunks[-1]["usage"]["completion_tokens"] == 3


async def test_failure_after_first_byte_ends_with_an_error_event(smol_engine: Any) -> None:
    with FakeProviderProcess("--ttft-ms", "0", "--token-latency-ms", "1500") as slow:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(slow, idle_s=0.3)}
        with serve_api(context(engines)) as url:
            body = chat("external", stream=True, messages=[{"role": "user", "content": "a b c d"}])
            status, _, raw = await call("POST", f"{url}/v1/chat/completions", body)
    assert status == 200  # the status line went out with the first chunk
    events = sse_events(raw)
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    error = json.loads(events[-2])["error"]
    assert error["code"] == "service_unavailable" and "idle" in error["message"]


async def test_provider_429_is_passed_back_with_retry_after(smol_engine: Any) -> None:
    with FakeProviderProcess("--rate-limit-rate", "1") as limited:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(limited)}
        with serve_api(context(engines)) as url:
            status, headers, raw = await call(
                "POST", f"{url}/v1/chat/completions", chat("external")
            )
    assert status == 429 and headers["Retry-After"] == "1"
    assert error_of(raw)["type"] == "rate_limit_error"


async def test_json_output_on_the_transformers_engine_is_valid_json(api: str) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}  # fmt: skip
    response_format = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    body = chat(response_format=response_format, max_tokens=32, temperature=0)
    status, headers, raw = await call("POST", f"{api}/v1/chat/completions", body)
    assert status == 200 and headers["x-switchboard-model"] == SMOL
    assert isinstance(json.loads(json.loads(raw)["choices"][0]["message"]["content"])["ok"], bool)


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
NAMED = {"type": "function", "function": {"name": "get_weather"}}


async def test_tool_call_through_the_router(api: str) -> None:
    body = chat(
        "external",
        tools=[WEATHER],
        tool_choice=NAMED,
        messages=[{"role": "user", "content": "rain in Oslo"}],
    )
    status, _, raw = await call("POST", f"{api}/v1/chat/completions", body)
    assert status == 200, raw
    [choice] = json.loads(raw)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [tool_call] = choice["message"]["tool_calls"]
    assert tool_call["function"]["name"] == "get_weather"
    assert json.loads(tool_call["function"]["arguments"]) == {"words": "rain in Oslo"}


async def test_tools_on_an_engine_without_tool_calling_is_400(api: str) -> None:
    status, _, raw = await call("POST", f"{api}/v1/chat/completions", chat(tools=[WEATHER]))
    assert status == 400 and error_of(raw)["param"] == "tools"


async def test_a_rotated_key_file_takes_effect_on_the_running_app(
    smol_engine: TransformersEngine, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("app:sk-old\n")
    settings = AuthSettings(api_keys_file_env="KEYS_FILE")
    auth = ApiKeyAuth.from_settings(settings, {"KEYS_FILE": str(key_file)})
    with serve_api(context({SMOL: smol_engine}, auth=auth)) as url:
        assert (await call("GET", f"{url}/v1/models", key="sk-old"))[0] == 200
        rotated = tmp_path / "keys.new"
        rotated.write_text("app:sk-new\n")
        rotated.replace(key_file)  # as Kubernetes swaps a mounted Secret
        deadline = time.monotonic() + 10  # the router re-checks it on every load poll
        while (await call("GET", f"{url}/v1/models", key="sk-new"))[0] != 200:
            assert time.monotonic() < deadline, "the new key was never accepted"
            await asyncio.sleep(0.1)
        assert (await call("GET", f"{url}/v1/models", key="sk-old"))[0] == 401
