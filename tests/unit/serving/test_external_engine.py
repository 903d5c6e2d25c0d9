"""ExternalEngine against the fake OpenAI-compatible provider, run as real processes."""

import asyncio
import json
import logging
import pickle
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from harness.fake_provider.process import FakeProviderProcess
from serving.config import ExternalTimeouts, ProviderEngineConfig
from serving.engine import (
    ChatPrompt,
    Engine,
    GenerationChunk,
    GenerationRequest,
    JsonOutput,
    SamplingOptions,
    TextPrompt,
    ToolUse,
    Usage,
)
from serving.errors import EngineOverloaded, EngineUnavailable, UpstreamError
from serving.external_engine import ExternalEngine
from serving.provider_errors import MAX_RETRY_AFTER_S, parse_retry_after
from tests.engine_contract import ClosedEngineContract, EngineContract

KEY = "sk-test-secret-4242"
TIMEOUTS = ExternalTimeouts(
    connect_s=0.5, first_byte_s=0.5, idle_s=0.5, first_token_s=0.5, total_s=2.0
)
CONFIG = ProviderEngineConfig(
    context_window=4096,
    max_concurrency=8,
    timeouts=TIMEOUTS,
)
FAKES = {
    "main": ("--api-key", KEY),
    "slow": ("--token-latency-ms", "1500", "--max-concurrency", "1"),
    "failing": ("--error-rate", "1"),
    "limited": ("--rate-limit-rate", "1"),
    "hanging": ("--hang-rate", "1"),
    "broken": ("--stream-error-rate", "1"),
    "no_usage": ("--no-usage",),
    "hostile": ("--hostile", "done_only"),  # each test sets its own mode
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProviderProcess]]:
    # Started together so their interpreters boot in parallel.
    started = {name: FakeProviderProcess(*args).start() for name, args in FAKES.items()}
    try:
        yield {name: fake.wait_ready() for name, fake in started.items()}
    finally:
        for fake in started.values():
            fake.stop()


MakeEngine = Callable[..., ExternalEngine]


@pytest.fixture
async def make_engine(fakes: dict[str, FakeProviderProcess]) -> AsyncIterator[MakeEngine]:
    engines: list[ExternalEngine] = []

    def make(
        name: str = "main", api_key: str | None = KEY, config: ProviderEngineConfig = CONFIG
    ) -> ExternalEngine:
        base_url = fakes[name].base_url if name in fakes else name
        engines.append(ExternalEngine(base_url, api_key, "upstream-model", config))
        return engines[-1]

    yield make
    for engine in engines:
        await engine.close()


def chat(text: str, **sampling: object) -> GenerationRequest:
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": text})
    return GenerationRequest("req-1", ChatPrompt(messages), SamplingOptions(**sampling))  # type: ignore[arg-type]


async def collect(engine: ExternalEngine, request: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.generate(request)]


def texts(chunks: list[GenerationChunk]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in chunks:
        for delta in chunk.deltas:
            out[delta.index] = out.get(delta.index, "") + delta.text
    return out


def finishes(chunks: list[GenerationChunk]) -> dict[int, str | None]:
    return {d.index: d.finish_reason for c in chunks for d in c.deltas if d.finish_reason}


class TestExternalEngineContract(EngineContract, ClosedEngineContract):
    """The engine contract on the fake provider. The contract's model-bound part (token
    counts, the context window, sampling, grammars) is the provider's, not the engine's."""

    # The fake answers with the words of the last user message, one token each.
    LONG_PROMPT = " ".join(["word"] * 300)

    @pytest.fixture
    def engine(self, make_engine: MakeEngine) -> ExternalEngine:
        return make_engine()

    @pytest.fixture
    async def closed_engine(self, make_engine: MakeEngine) -> ExternalEngine:
        engine = make_engine()
        await engine.close()
        return engine


async def test_chat_stream_round_trip(make_engine: MakeEngine, fakes: dict) -> None:
    engine = make_engine()
    assert isinstance(engine, Engine)
    chunks = await collect(engine, chat("hello big world", seed=7, stop=("xyz",)))
    assert texts(chunks) == {0: "hello big world"}
    assert finishes(chunks) == {0: "stop"}
    assert chunks[-1] == GenerationChunk(usage=Usage(prompt_tokens=5, completion_tokens=3))
    assert all(chunk.usage is None for chunk in chunks[:-1])
    sent = fakes["main"].get("/last_request")
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    body = sent["body"]
    assert body["model"] == "upstream-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][1] == {"role": "user", "content": "hello big world"}
    assert (body["seed"], body["stop"], body["n"], body["temperature"]) == (7, ["xyz"], 1, 1.0)
    assert "max_tokens" not in body


async def test_completions_with_max_tokens_finish_length(
    make_engine: MakeEngine, fakes: dict
) -> None:
    request = GenerationRequest(
        "r", TextPrompt("one two three four"), SamplingOptions(max_tokens=2)
    )
    chunks = await collect(make_engine(), request)
    assert texts(chunks) == {0: "one two"}
    assert finishes(chunks) == {0: "length"}
    assert chunks[-1].usage == Usage(prompt_tokens=4, completion_tokens=2)
    sent = fakes["main"].get("/last_request")
    assert sent["path"] == "/v1/completions"
    assert (sent["body"]["prompt"], sent["body"]["max_tokens"]) == ("one two three four", 2)
    assert "seed" not in sent["body"] and "stop" not in sent["body"]


async def test_n_choices_relay_each_choice_and_the_summed_usage(make_engine: MakeEngine) -> None:
    chunks = await collect(make_engine(), chat("a b c", n=2))
    assert texts(chunks) == {0: "a b c", 1: "a b c"}
    assert finishes(chunks) == {0: "stop", 1: "stop"}
    assert chunks[-1].usage == Usage(prompt_tokens=5, completion_tokens=6)


async def test_wrong_key_is_upstream_401_without_the_key(make_engine: MakeEngine) -> None:
    wrong = "sk-wrong-key-9999"
    with pytest.raises(UpstreamError) as caught:
        await collect(make_engine(api_key=wrong), chat("hi"))
    error = caught.value
    assert (error.status, error.error_type, error.code) == (
        401,
        "invalid_request_error",
        "invalid_api_key",
    )
    assert wrong not in str(error) and "***" in error.message  # the fake echoes the key


async def test_rate_limited_carries_retry_after(make_engine: MakeEngine) -> None:
    with pytest.raises(UpstreamError) as caught:
        await collect(make_engine("limited"), chat("hi"))
    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)
    assert caught.value.code == "rate_limit_exceeded"


async def test_server_error_is_unavailable(make_engine: MakeEngine) -> None:
    with pytest.raises(EngineUnavailable, match="500"):
        await collect(make_engine("failing"), chat("hi"))


async def test_hang_fires_first_byte_timeout(make_engine: MakeEngine) -> None:
    engine = make_engine("hanging")
    start = time.monotonic()
    with pytest.raises(EngineUnavailable, match="first-byte timeout"):
        await collect(engine, chat("hi"))
    assert 0.4 < time.monotonic() - start < 2.0
    assert (await engine.stats()).running == 0


async def test_unmodelled_fields_and_adjustments_reach_the_provider_unchanged(
    make_engine: MakeEngine, fakes: dict
) -> None:
    passthrough = {"logit_bias": {"50256": -100}, "reasoning_effort": "low", "model": "evil"}
    request = replace(
        chat("hi there", max_tokens=5, frequency_penalty=0.5, top_k=40),
        passthrough=passthrough,
    )
    await collect(make_engine(), request)
    body = fakes["main"].get("/last_request")["body"]
    assert body["logit_bias"] == {"50256": -100} and body["reasoning_effort"] == "low"
    assert body["model"] == "upstream-model"  # a field Switchboard sets is never replaced
    assert (body["frequency_penalty"], body["top_k"], body["max_tokens"]) == (0.5, 40, 5)
    assert "presence_penalty" not in body and "min_p" not in body  # neutral: not sent


async def test_a_provider_may_take_the_budget_as_max_completion_tokens(
    make_engine: MakeEngine, fakes: dict
) -> None:
    config = CONFIG.model_copy(update={"max_tokens_field": "max_completion_tokens"})
    await collect(make_engine(config=config), chat("one two three", max_tokens=2))
    body = fakes["main"].get("/last_request")["body"]
    assert body["max_completion_tokens"] == 2 and "max_tokens" not in body


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


async def test_tools_and_json_output_pass_through(make_engine: MakeEngine, fakes: dict) -> None:
    engine = make_engine()
    request = replace(
        chat("sunny in Paris"),
        tool_use=ToolUse(tools=(WEATHER,), choice="get_weather"),
        json_output=JsonOutput(schema={"type": "object"}),
    )
    chunks = await collect(engine, request)
    body = fakes["main"].get("/last_request")["body"]
    assert body["tools"] == [WEATHER]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    calls = [call for c in chunks for d in c.deltas for call in d.tool_calls]
    assert (calls[0].id, calls[0].name) == ("call_0", "get_weather")
    assert json.loads("".join(call.arguments for call in calls)) == {"words": "sunny in Paris"}
    assert finishes(chunks) == {0: "tool_calls"}


async def wait_idle(fake: FakeProviderProcess) -> dict:
    for _ in range(50):
        stats = await asyncio.to_thread(fake.get, "/stats")
        if stats["in_flight"] == 0:
            return stats
        await asyncio.sleep(0.1)
    raise AssertionError(f"fake still busy: {stats}")


async def test_slow_tokens_fire_idle_timeout(make_engine: MakeEngine, fakes: dict) -> None:
    await wait_idle(fakes["slow"])
    received: list[GenerationChunk] = []
    start = time.monotonic()
    with pytest.raises(EngineUnavailable, match="idle timeout"):
        async for chunk in make_engine("slow").generate(chat("many slow words here")):
            received.append(chunk)
    assert texts(received) == {0: "many"}
    assert 0.4 < time.monotonic() - start < 2.0


async def test_connection_refused_is_unavailable(make_engine: MakeEngine) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EngineUnavailable, match="unreachable"):
        await collect(make_engine(f"http://127.0.0.1:{port}/v1"), chat("hi"))


async def test_cancellation_releases_request_and_connection(
    make_engine: MakeEngine, fakes: dict
) -> None:
    await wait_idle(fakes["slow"])
    engine = make_engine("slow")
    stream = engine.generate(chat("many slow words here"))
    first = await anext(stream)
    assert texts([first]) == {0: "many"}
    assert (await engine.stats()).running == 1
    # The fake allows one request at a time: a second is refused while the first streams.
    with pytest.raises(UpstreamError) as caught:
        await collect(engine, chat("second"))
    assert caught.value.status == 429
    await stream.aclose()
    assert (await engine.stats()).running == 0
    stats = await wait_idle(fakes["slow"])  # the upstream saw the connection go
    assert stats["client_disconnects"] >= 1


async def test_error_event_mid_stream(make_engine: MakeEngine) -> None:
    received: list[GenerationChunk] = []
    with pytest.raises(UpstreamError, match="Upstream overloaded") as caught:
        async for chunk in make_engine("broken").generate(chat("two words")):
            received.append(chunk)
    assert texts(received) == {0: "two"}
    assert (caught.value.status, caught.value.error_type) == (502, "server_error")


async def test_missing_usage_is_estimated_with_a_warning(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="serving.external_engine"):
        chunks = await collect(make_engine("no_usage"), chat("three words here", n=2))
    assert chunks[-1].usage == Usage(prompt_tokens=0, completion_tokens=6)
    assert "sent no usage" in caplog.text


async def test_key_never_logged(make_engine: MakeEngine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine()
    await collect(engine, chat("hello"))
    with pytest.raises(UpstreamError) as caught:
        await collect(make_engine(api_key=KEY + "x"), chat("hello"))
    logging.getLogger("test").error("failure: %s %r %r", caught.value, caught.value, engine)
    assert KEY not in caplog.text and KEY not in repr(engine)


def test_from_env() -> None:
    assert ExternalEngine.from_env(CONFIG, {}) is None
    assert ExternalEngine.from_env(CONFIG, {CONFIG.base_url_env: " "}) is None
    with pytest.raises(ValueError, match=CONFIG.model_env):
        ExternalEngine.from_env(CONFIG, {CONFIG.base_url_env: "http://x/v1"})
    env = {CONFIG.base_url_env: "http://x/v1/", CONFIG.model_env: "m", CONFIG.api_key_env: KEY}
    engine = ExternalEngine.from_env(CONFIG, env)
    assert engine is not None
    assert (engine.base_url, engine.upstream_model) == ("http://x/v1", "m")
    assert KEY not in repr(engine)


def test_upstream_error_pickles() -> None:
    error = UpstreamError(429, "slow down", "rate_limit_error", "rate_limit_exceeded", 1.5)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.message, copy.error_type, copy.code, copy.retry_after) == (
        429,
        "slow down",
        "rate_limit_error",
        "rate_limit_exceeded",
        1.5,
    )


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"Retry-After": "9" * 400}) == MAX_RETRY_AFTER_S  # inf, capped
    assert parse_retry_after({"retry-after-ms": "nan"}) is None
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}) == 300.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after({"Retry-After": later}) or 0) <= 30
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


async def test_fake_provider_non_stream_and_models(fakes: dict) -> None:
    base = fakes["main"].base_url
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "m", "messages": [{"role": "user", "content": "x y z"}], "max_tokens": 2}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{base}/chat/completions", json=body) as reply:
            answer = await reply.json()
        async with session.get(f"{base}/models") as reply:
            models = await reply.json()
    assert answer["choices"][0]["message"]["content"] == "x y"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert models["data"][0]["id"] == "fake-model"


async def test_over_its_own_concurrency_cap_it_refuses_at_once(
    fakes: dict[str, FakeProviderProcess],
) -> None:
    """Above ``max_concurrency`` the engine answers EngineOverloaded immediately (the router
    overflows or sheds) instead of waiting for a pooled connection."""
    engine = ExternalEngine(
        fakes["main"].base_url, KEY, "m", CONFIG.model_copy(update={"max_concurrency": 1})
    )
    try:
        stream = engine.generate(chat("one two three"))
        await anext(stream)
        started = time.perf_counter()
        with pytest.raises(EngineOverloaded):
            await collect(engine, chat("second"))
        assert time.perf_counter() - started < 0.1
        await stream.aclose()
        assert len(texts(await collect(engine, chat("third")))[0].split()) > 0  # slot free
    finally:
        await engine.close()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("malformed_choices", "invalid stream event"),
        ("object_arguments", "invalid stream event"),
        ("number_content", "invalid stream event"),
        ("done_only", "without any choice"),
        ("huge_line", "exceeds"),
        ("keepalive", "first-token timeout"),
        ("role_only", "first-token timeout"),
        ("endless", "total timeout"),
    ],
)
async def test_a_hostile_stream_is_unavailable_within_its_deadline(
    make_engine: MakeEngine, fakes: dict, mode: str, reason: str
) -> None:
    fakes["hostile"].set_faults(hostile=mode)
    started = time.perf_counter()
    with pytest.raises(EngineUnavailable, match=reason):
        await collect(make_engine("hostile"), chat("hello"))
    # first_token_s 0.5 and total_s 2.0 (TIMEOUTS): nothing runs past its deadline
    assert time.perf_counter() - started < TIMEOUTS.total_s + 1.0


async def test_a_character_split_across_events_is_joined(
    make_engine: MakeEngine, fakes: dict
) -> None:
    fakes["hostile"].set_faults(hostile="split_character")
    chunks = await collect(make_engine("hostile"), chat("hello"))
    assert texts(chunks) == {0: "smile \U0001f600 done"}
    assert finishes(chunks) == {0: "stop"}


@pytest.mark.parametrize("mode", ["absurd_retry_after", "dated_retry_after"])
async def test_an_absurd_retry_after_is_capped(
    make_engine: MakeEngine, fakes: dict, mode: str
) -> None:
    fakes["hostile"].set_faults(hostile=mode)
    with pytest.raises(UpstreamError) as caught:
        await collect(make_engine("hostile"), chat("hello"))
    assert (caught.value.status, caught.value.retry_after) == (429, MAX_RETRY_AFTER_S)
