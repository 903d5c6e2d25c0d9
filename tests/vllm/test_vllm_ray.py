"""The vLLM engine through the real stack: router deployment -> model deployment running
vLLM's CPU build in-process -> SmolLM2 (fp32, eager), over Serve's HTTP proxy."""

import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import ray
from ray import serve

from router.app import SwitchboardArgs, build_app
from serving.engine import EngineStats
from serving.weights import default_models_dir
from tests.builders import free_port, smol_only_raw, write_config

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
SMOL = "smollm2-135m"
VLLM_CPU = {
    "dtype": "float32",
    "enforce_eager": True,
    "cpu_kv_cache_gib": 1,
    "cpu_threads_bind": "0-1",
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    raw = smol_only_raw(engine="vllm", vllm=VLLM_CPU, context_window=2048, max_output_tokens=256)
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    port = free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = SwitchboardArgs(config_path=str(config), models_dir=str(default_models_dir()))
    serve.run(build_app(args), name="switchboard", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


async def post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as reply:
        return reply.status, await reply.read()


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": "auto",
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
