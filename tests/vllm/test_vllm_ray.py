"""The vLLM engine through the real stack: router deployment -> model deployment running
vLLM's CPU build in-process -> SmolLM2 (fp32, eager), over Serve's HTTP proxy."""

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from ray import serve

from harness.configs import default_fleet_raw, write_config
from harness.ports import free_port
from harness.prometheus import scrape
from harness.ray_app import running_app
from serving.engine import EngineStats

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
SMOL = "smollm2-135m"
QWEN = "qwen2.5-coder-0.5b"
# fp32 and eager on CPU; each engine gets its own core and 1 GiB of KV cache.
VLLM_CPU = {"dtype": "float32", "enforce_eager": True, "cpu_kv_cache_gib": 1}


@pytest.fixture(scope="module")
def metrics_port() -> int:
    """Where Ray's metrics agent serves every replica's series."""
    return free_port()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[str]:
    raw = default_fleet_raw()
    smol, qwen, _ = raw["models"]  # and the embedding model, on the transformers engine
    smol.update(
        engine="vllm",
        vllm={**VLLM_CPU, "cpu_threads_bind": "0"},
        # Named and `required` tool choices work through structured outputs on any vLLM
        # model; the router only sends tools to models that declare them.
        supports_tools=True,
        context_window=2048,
        max_output_tokens=256,
    )
    qwen.update(
        engine="vllm",
        vllm={**VLLM_CPU, "cpu_threads_bind": "1", "tool_parser": "hermes"},
        supports_tools=True,
        context_window=4096,
        max_output_tokens=256,
    )
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    with running_app(config, metrics_port=metrics_port) as url:
        yield url


async def post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as reply:
        return reply.status, await reply.read()


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": SMOL,
        "messages": [{"role": "user", "content": text}],
        "temperature": 0,
        **fields,
    }


async def test_chat(base_url: str) -> None:
    status, raw = await post(
        f"{base_url}/v1/chat/completions", chat("What is the capital of France?", max_tokens=12)
    )
    assert status == 200, raw
    body = json.loads(raw)
    assert body["model"] == SMOL and body["choices"][0]["message"]["content"]
    assert 0 < body["usage"]["completion_tokens"] <= 12


async def test_auto_routes_between_the_vllm_models(base_url: str) -> None:
    """JSON output: both vLLM models can guarantee it, so the knob picks (its ends are
    exact: all traffic to the larger model at 1, none at 0)."""
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "ok", "schema": schema}}
    for knob, expected in (("1", QWEN), ("0", SMOL)):
        body = chat(
            "Is water wet? Answer in JSON.", model="auto", max_tokens=40, response_format=fmt
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base_url}/v1/chat/completions",
                json=body,
                headers={"x-switchboard-quality": knob},
            ) as reply,
        ):
            assert reply.status == 200, await reply.read()
            assert reply.headers["x-switchboard-model"] == expected
            assert reply.headers["x-switchboard-route"] == "classifier"
            assert "ok" in json.loads((await reply.json())["choices"][0]["message"]["content"])


async def test_stream_with_usage(base_url: str) -> None:
    body = chat(
        "Count to twenty.", max_tokens=16, stream=True, stream_options={"include_usage": True}
    )
    status, raw = await post(f"{base_url}/v1/chat/completions", body)
    assert status == 200
    events = [e.removeprefix("data: ") for e in raw.decode().split("\n\n") if e]
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len([c for c in chunks if c["choices"]]) > 2
    assert chunks[-1]["usage"]["completion_tokens"] == 16


async def test_json_schema_output(base_url: str) -> None:
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}},
        "required": ["age"],
        "additionalProperties": False,
    }
    body = chat(
        "How old is a person born in 2000 in 2025? Answer in JSON.",
        max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "age", "schema": schema}},
    )
    status, raw = await post(f"{base_url}/v1/chat/completions", body)
    assert status == 200, raw
    answer = json.loads(json.loads(raw)["choices"][0]["message"]["content"])
    assert isinstance(answer["age"], int)


async def test_context_length_error_crosses_ray(base_url: str) -> None:
    status, raw = await post(f"{base_url}/v1/chat/completions", chat("word " * 3000, max_tokens=4))
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["code"] == "context_length_exceeded" and "2048" in error["message"]


async def test_engine_stats_come_from_vllm(base_url: str) -> None:
    handle = serve.get_deployment_handle(f"model-{SMOL}", app_name="switchboard")
    stats: EngineStats = await handle.stats.remote()
    assert stats.kv_cache_usage is not None and 0 <= stats.kv_cache_usage <= 1
    assert stats.running >= 0 and stats.waiting >= 0 and stats.timestamp > 0


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
NAMED = {"type": "function", "function": {"name": "get_weather"}}


async def test_named_tool_call_round_trip(base_url: str) -> None:
    body = chat("What is the weather in Paris?", max_tokens=40, tools=[WEATHER], tool_choice=NAMED)
    status, raw = await post(f"{base_url}/v1/chat/completions", body)
    assert status == 200, raw
    [choice] = json.loads(raw)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert set(json.loads(call["function"]["arguments"])) == {"city"}
    # The client runs the tool and sends the result back: the model answers in text.
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"},
    ]
    status, raw = await post(
        f"{base_url}/v1/chat/completions",
        chat("", messages=messages, tools=[WEATHER], tool_choice="none", max_tokens=20),
    )
    assert status == 200, raw
    assert json.loads(raw)["choices"][0]["message"]["content"]


async def test_named_tool_call_streams_openai_deltas(base_url: str) -> None:
    body = chat("Weather in Rome?", max_tokens=40, tools=[WEATHER], tool_choice=NAMED, stream=True)
    status, raw = await post(f"{base_url}/v1/chat/completions", body)
    assert status == 200
    events = [
        json.loads(e.removeprefix("data: "))
        for e in raw.decode().split("\n\n")
        if e and e != "data: [DONE]"
    ]
    fragments = [
        call for e in events for c in e["choices"] for call in c["delta"].get("tool_calls", [])
    ]
    assert fragments[0]["id"] and fragments[0]["function"]["name"] == "get_weather"
    assert all("id" not in f for f in fragments[1:])
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert set(json.loads(arguments)) == {"city"}
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_auto_tool_choice_with_qwen_template(base_url: str) -> None:
    """Qwen's template renders the tools into the prompt and the hermes parser reads the
    answer. (This 0.5B model rarely emits <tool_call> tags on its own, so the answer may
    be text; the parser itself is tested on tagged output in test_vllm_tools_parser.)"""
    question = chat("What is the weather in Oslo?", model=QWEN, max_tokens=60)
    status, raw = await post(f"{base_url}/v1/chat/completions", question)
    without_tools = json.loads(raw)["usage"]["prompt_tokens"]
    status, raw = await post(
        f"{base_url}/v1/chat/completions", {**question, "tools": [WEATHER], "tool_choice": "auto"}
    )
    assert status == 200, raw
    reply = json.loads(raw)
    assert reply["usage"]["prompt_tokens"] > without_tools + 20  # the tools are in the prompt
    [choice] = reply["choices"]
    if choice["finish_reason"] == "tool_calls":
        [call] = choice["message"]["tool_calls"]
        assert call["function"]["name"] == "get_weather"
        json.loads(call["function"]["arguments"])
    else:
        assert choice["finish_reason"] in {"stop", "length"} and choice["message"]["content"]


async def test_vllm_metrics_are_exported_beside_switchboards(
    base_url: str, metrics_port: int
) -> None:
    """vLLM's own engine metrics, per model replica, on Ray's one metrics port."""
    status, _ = await post(f"{base_url}/v1/chat/completions", chat("Hi", max_tokens=4))
    assert status == 200
    deadline = time.monotonic() + 60  # Ray's metrics agent exports every few seconds
    while True:
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        served = [s for s in samples if s.name == "ray_vllm_request_success_total"]
        if served or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    names = {s.name for s in samples}
    assert sum(s.value for s in served) >= 1, sorted(n for n in names if "vllm" in n)[:20]
    assert "ray_switchboard_requests_total" in names
    assert {s.labels.get("model_name") for s in served} >= {SMOL}
