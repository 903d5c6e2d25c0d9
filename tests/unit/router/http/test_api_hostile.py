"""Hostile client input on a live server (no Ray): bodies the stdlib JSON parser accepts
but the rest of the stack cannot carry, repeated policy headers, and what a key may see.
Each case once reached a 500 or leaked something; each now gets a clear answer."""

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness.configs import smol_only_raw
from harness.fake_provider.process import FakeProviderProcess
from router.config_loader import parse_config
from serving.engine import Engine
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api
from tests.unit.router.http.test_api import SMOL, call, error_of, external

pytestmark = pytest.mark.slow
KEYS = ("admin:sk-admin", "narrow:sk-narrow")
ADMIN = {"Authorization": "Bearer sk-admin"}


@pytest.fixture(scope="module")
def api(smol_engine: TransformersEngine) -> Iterator[str]:
    raw = smol_only_raw(max_output_tokens=4)
    raw["auth"]["keys"] = {"narrow": {"allowed_models": [SMOL], "allow_external": False}}
    with FakeProviderProcess() as fake:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(fake)}
        ctx = context(engines, keys=KEYS, max_body_bytes=1 << 20, config=parse_config(raw))
        with serve_api(ctx) as url:
            yield url


async def post(api: str, path: str, body: dict[str, Any], raw_extra: str = "") -> tuple[int, Any]:
    """POST ``body`` as JSON (``json.dumps`` escapes a lone surrogate as ``\\udXXX``, as a
    hostile client would send it), with ``raw_extra`` spliced in as more members."""
    text = json.dumps(body)
    text = text[:-1] + raw_extra + "}"
    headers = {"Content-Type": "application/json"}
    status, _, reply = await call(
        "POST", f"{api}{path}", raw=text.encode(), key="sk-admin", headers=headers
    )
    return status, json.loads(reply)


def chat(content: str = "hi", **fields: Any) -> dict[str, Any]:
    return {"model": SMOL, "max_tokens": 2, "messages": [{"role": "user", "content": content}],
            **fields}  # fmt: skip


async def test_a_lone_surrogate_is_a_400_not_a_500(api: str) -> None:
    body = {"model": SMOL, "max_tokens": 2, "prompt": "a \ud800 b"}
    status, reply = await post(api, "/v1/completions", body)
    assert status == 400, reply
    assert "could not parse" in error_of(json.dumps(reply).encode())["message"]
    status, reply = await post(api, "/v1/chat/completions", chat("x\udc80"))
    assert status == 400, reply


async def test_a_surrogate_pair_is_a_character(api: str) -> None:
    status, reply = await post(api, "/v1/chat/completions", chat("\U0001f600"))
    assert status == 200, reply


async def test_a_surrogate_tool_name_with_an_absent_tool_choice_is_a_400(api: str) -> None:
    tools = [{"type": "function", "function": {"name": "f\udfff"}}]
    choice = {"type": "function", "function": {"name": "g"}}
    status, reply = await post(api, "/v1/chat/completions", chat(tools=tools, tool_choice=choice))
    assert status == 400, reply


async def test_nesting_past_the_depth_limit_is_a_400(api: str) -> None:
    deep = ', "extra": ' + "[" * 700 + "]" * 700
    status, reply = await post(api, "/v1/chat/completions", chat(), deep)
    assert status == 400, reply
    assert "recursion limit" in reply["error"]["message"]


async def test_nesting_within_the_limit_crosses_the_stack(api: str) -> None:
    # An unmodelled field travels with the request; `store` is one a local model ignores.
    deep = ', "store": ' + "[" * 150 + "]" * 150
    status, reply = await post(api, "/v1/chat/completions", chat(), deep)
    assert status == 200, reply


async def test_tool_call_arguments_nested_past_any_parser_are_kept_as_text(api: str) -> None:
    call_ = {"id": "c1", "type": "function",
             "function": {"name": "f", "arguments": "[" * 20000}}  # fmt: skip
    body = {"model": SMOL, "max_tokens": 2, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call_]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]}  # fmt: skip
    status, reply = await post(api, "/v1/chat/completions", body)
    assert status < 500, reply


async def test_a_repeated_local_only_header_fails_closed(api: str) -> None:
    # Both orders: whichever copy says true, the request stays local.
    for values in (("false", "true"), ("true", "false")):
        headers = {**ADMIN, "Content-Type": "application/json"}
        raw = json.dumps({"model": "external", "messages": [{"role": "user", "content": "x"}]})
        # aiohttp sends each (name, value) pair of a list as its own header line
        async with aiohttp.ClientSession() as session:
            pairs = [*headers.items(), *(("x-switchboard-local-only", v) for v in values)]
            async with session.post(f"{api}/v1/chat/completions", data=raw, headers=pairs) as reply:
                body = await reply.json()
        assert reply.status == 403, body
        assert "local" in body["error"]["message"]


async def test_models_lists_only_what_the_key_may_use(api: str) -> None:
    status, _, raw = await call("GET", f"{api}/v1/models", key="sk-narrow")
    ids = [m["id"] for m in json.loads(raw)["data"]]
    assert status == 200 and "external" not in ids and SMOL in ids
    status, _, raw = await call("GET", f"{api}/v1/models/external", key="sk-narrow")
    assert status == 404
    status, _, raw = await call("GET", f"{api}/v1/models", key="sk-admin")
    assert "external" in [m["id"] for m in json.loads(raw)["data"]]


async def test_docs_are_gone_and_the_schema_needs_a_key(api: str) -> None:
    for path in ("/docs", "/redoc"):
        assert (await call("GET", f"{api}{path}", key=None))[0] == 404
    assert (await call("GET", f"{api}/openapi.json", key=None))[0] == 401
    status, _, raw = await call("GET", f"{api}/openapi.json", key="sk-admin")
    assert status == 200 and "/v1/chat/completions" in json.loads(raw)["paths"]


async def test_tokens_per_minute_reserve_n_times_max_tokens_and_settle_with_usage(
    smol_engine: TransformersEngine,
) -> None:
    raw = smol_only_raw(max_output_tokens=4)
    raw["auth"]["keys"] = {"metered": {"tokens_per_minute": 1000}}
    headers = {"Authorization": "Bearer sk-metered", "Content-Type": "application/json"}

    def ask(n: int, max_tokens: int) -> dict[str, Any]:
        return {"model": "external", "n": n, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "one two three"}]}  # fmt: skip

    with FakeProviderProcess("--token-latency-ms", "300") as fake:
        engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(fake)}
        ctx = context(engines, keys=("metered:sk-metered",), config=parse_config(raw))
        with serve_api(ctx) as url:
            async with aiohttp.ClientSession() as session:
                endpoint = f"{url}/v1/chat/completions"
                # In flight: 3 x 300 completion tokens are reserved, whatever it will use.
                first = asyncio.create_task(
                    session.post(endpoint, json=ask(3, 300), headers=headers)
                )
                await asyncio.sleep(0.3)
                async with session.post(endpoint, json=ask(1, 200), headers=headers) as reply:
                    while_reserved = reply.status
                reply = await first
                usage = (await reply.json())["usage"]
                # Settled: the first used a dozen tokens, so 3 x 200 fits again at once.
                async with session.post(endpoint, json=ask(3, 200), headers=headers) as reply:
                    after_settling = reply.status
    assert while_reserved == 429
    assert usage["total_tokens"] < 30
    assert after_settling == 200


async def test_a_generation_past_the_request_timeout_is_stopped_with_a_503(
    smol_engine: TransformersEngine,
) -> None:
    # 32 tokens take SmolLM2 a few hundred milliseconds here: far past 50 ms.
    raw = smol_only_raw(max_output_tokens=32)
    raw["router"]["request_timeout_s"] = 0.05
    body = {"model": SMOL, "max_tokens": 32, "temperature": 0,
            "messages": [{"role": "user", "content": "Write a long story."}]}  # fmt: skip
    with serve_api(context({SMOL: smol_engine}, config=parse_config(raw))) as url:
        started = time.perf_counter()
        status, _, reply = await call("POST", f"{url}/v1/chat/completions", body, key=None)
        took = time.perf_counter() - started
        stream_status, _, events = await call(
            "POST", f"{url}/v1/chat/completions", {**body, "stream": True}, key=None
        )
    assert status == 503 and error_of(reply)["code"] == "timeout"
    assert took < 3.0
    # Before the first chunk it is a 503; after it, an error event ends the stream.
    assert stream_status in (200, 503)
    assert b'"code": "timeout"' in events.replace(b'":"', b'": "')
    await asyncio.sleep(0.5)
    assert (await smol_engine.stats()).running == 0  # the slot was freed


async def test_n_over_the_batch_is_a_400_naming_n(api: str) -> None:
    status, reply = await post(api, "/v1/chat/completions", chat(n=16))
    assert status == 400 and reply["error"]["param"] == "n"


async def test_a_prompt_surely_too_long_is_refused_without_counting(api: str) -> None:
    # A million characters: even at SmolLM2's longest token (81 characters) that is over
    # its 8,192-token window, so the refusal names a bound, not an exact count.
    status, reply = await post(api, "/v1/chat/completions", chat("z" * 1_000_000))
    assert status == 400 and reply["error"]["code"] == "context_length_exceeded"
    assert "at least" in reply["error"]["message"]
