"""TransformersEngine against the real SmolLM2-135M: streaming, limits, sampling, batching."""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from transformers import AutoTokenizer

from serving.config import TransformersEngineArgs
from serving.engine import (
    ChatPrompt,
    Engine,
    GenerationRequest,
    JsonOutput,
    SamplingOptions,
    TextPrompt,
    ToolUse,
    Usage,
)
from serving.errors import (
    ContextLengthExceeded,
    EngineUnavailable,
    InvalidPrompt,
    MaxTokensTooLarge,
    UnsupportedFeature,
)
from serving.transformers_engine import TransformersEngine
from tests.engine_run import Result, run

pytestmark = pytest.mark.slow

CONTEXT_WINDOW = 8192
MAX_OUTPUT_TOKENS = 1024
ARGS = TransformersEngineArgs(max_batch_size=8, torch_threads=2)
GREEDY = SamplingOptions(max_tokens=16, temperature=0.0)


def _load(model_dir: Path) -> TransformersEngine:
    return TransformersEngine.load(
        model_dir,
        context_window=CONTEXT_WINDOW,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        args=ARGS,
    )


@pytest.fixture(scope="module")
def tokenizer(smol_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(smol_model_dir)


@pytest.fixture(scope="module")
def engine(smol_model_dir: Path) -> Iterator[TransformersEngine]:
    loaded = _load(smol_model_dir)
    yield loaded
    loaded.close()


def chat(text: str, sampling: SamplingOptions = GREEDY, request_id: str = "r") -> GenerationRequest:
    prompt = ChatPrompt(({"role": "user", "content": text},))
    return GenerationRequest(request_id, prompt, sampling)


async def wait_idle(engine: TransformersEngine) -> None:
    for _ in range(200):
        stats = await engine.stats()
        if stats.running == 0 and stats.waiting == 0:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"engine never went idle: {stats}")


def test_implements_the_engine_protocol(engine: TransformersEngine) -> None:
    assert isinstance(engine, Engine)


async def test_chat_text_and_exact_usage(engine: TransformersEngine, tokenizer: Any) -> None:
    messages = ({"role": "user", "content": "What is the capital of France?"},)
    result = await run(engine, GenerationRequest("r", ChatPrompt(messages), GREEDY))
    template_ids = tokenizer.apply_chat_template(
        list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert "Paris" in result.texts[0]
    assert result.reasons[0] == "stop"  # the model ends its short answer with EOS
    assert result.usage.prompt_tokens == len(template_ids)
    # EOS is sampled and counted, but its text is not emitted.
    emitted = tokenizer(result.texts[0])["input_ids"]
    assert result.usage.completion_tokens == len(emitted) + 1


async def test_text_prompt_is_tokenized_without_template(
    engine: TransformersEngine, tokenizer: Any
) -> None:
    text = "The quick brown fox"
    request = GenerationRequest("r", TextPrompt(text), SamplingOptions(max_tokens=4))
    result = await run(engine, request)
    assert result.usage == Usage(len(tokenizer(text)["input_ids"]), 4)


async def test_streams_tokens_as_they_are_produced(engine: TransformersEngine) -> None:
    result = await run(engine, chat("Write a long story about a dragon."))
    assert len(result.chunks) > 1
    assert result.chunks[0].usage is None
    assert result.chunk_times[0] < result.chunk_times[-1]


async def test_max_tokens_ends_with_length(engine: TransformersEngine) -> None:
    sampling = SamplingOptions(max_tokens=5, temperature=0.0)
    result = await run(engine, chat("Write a long story about a dragon.", sampling))
    assert result.usage.completion_tokens == 5
    assert result.reasons[0] == "length"


async def test_stop_string_cuts_the_text(engine: TransformersEngine) -> None:
    prompt = "Write a long story about a dragon."
    sampling = SamplingOptions(max_tokens=24, temperature=0.0)
    full = (await run(engine, chat(prompt, sampling))).texts[0]
    stop = full.split()[4]  # a word from the middle of the greedy answer
    stopped = await run(engine, chat(prompt, SamplingOptions(24, 0.0, stop=(stop,))))
    assert stopped.texts[0] == full[: full.index(stop)]
    assert stop not in stopped.texts[0]
    assert stopped.reasons[0] == "stop"


async def test_n_choices_share_one_prompt(engine: TransformersEngine) -> None:
    sampling = SamplingOptions(max_tokens=6, temperature=1.0, n=2, seed=3)
    result = await run(engine, chat("Tell me a joke.", sampling))
    single = await run(engine, chat("Tell me a joke.", SamplingOptions(max_tokens=1)))
    assert set(result.texts) == {0, 1}
    assert set(result.reasons.values()) <= {"stop", "length"}
    assert result.usage.prompt_tokens == single.usage.prompt_tokens
    if set(result.reasons.values()) == {"length"}:
        assert result.usage.completion_tokens == 12


async def test_load_counts_sequences_not_requests(engine: TransformersEngine) -> None:
    # n=3 takes three of the batch's rows: the router's saturation view must see three.
    sampling = SamplingOptions(max_tokens=200, temperature=1.0, n=3, seed=1)
    stream = engine.generate(chat("Write a long story.", sampling))
    await anext(stream)
    stats = await engine.stats()
    await stream.aclose()
    assert stats.running == 3 and stats.max_running == ARGS.max_batch_size
    await wait_idle(engine)


async def test_same_seed_same_text_whatever_the_batch(engine: TransformersEngine) -> None:
    sampling = SamplingOptions(max_tokens=16, temperature=1.0, seed=1234)
    alone = await run(engine, chat("Describe the sea.", sampling))
    again, _ = await asyncio.gather(
        run(engine, chat("Describe the sea.", sampling)),
        run(engine, chat("Name three fruits.", SamplingOptions(max_tokens=16))),
    )
    assert alone.texts == again.texts


async def test_concurrent_greedy_matches_alone_and_batches(engine: TransformersEngine) -> None:
    prompts = [
        "What is the capital of France?",
        "Write a haiku about autumn leaves falling slowly from the old oak tree.",
        "List three colors.",
        "Explain gravity to a child in one sentence, please, using simple words.",
    ]
    alone = [(await run(engine, chat(prompt))).texts for prompt in prompts]
    peak_running = 0

    async def watch() -> None:
        nonlocal peak_running
        while True:
            peak_running = max(peak_running, (await engine.stats()).running)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    together = await asyncio.gather(*(run(engine, chat(prompt)) for prompt in prompts))
    watcher.cancel()
    assert [result.texts for result in together] == alone
    assert peak_running > 1


async def test_request_joins_while_another_is_generating(engine: TransformersEngine) -> None:
    long_sampling = SamplingOptions(max_tokens=64, temperature=0.0)
    finished: list[str] = []

    async def long_request() -> Result:
        result = Result()
        async for chunk in engine.generate(chat("Count from 1 to 100.", long_sampling)):
            result.chunks.append(chunk)
            if len(result.chunks) == 2:
                started.set()
        finished.append("long")
        return result

    started = asyncio.Event()
    task = asyncio.create_task(long_request())
    await started.wait()
    short = await run(engine, chat("Say hi.", SamplingOptions(max_tokens=3, temperature=0.0)))
    finished.append("short")
    long_result = await task
    assert finished == ["short", "long"]
    assert long_result.usage.completion_tokens == 64
    assert short.usage.completion_tokens <= 3


async def test_prompt_longer_than_the_window(engine: TransformersEngine, tokenizer: Any) -> None:
    text = "word " * CONTEXT_WINDOW
    prompt_tokens = len(tokenizer(text)["input_ids"])
    with pytest.raises(ContextLengthExceeded) as caught:
        await run(engine, GenerationRequest("r", TextPrompt(text)))
    assert caught.value.args == (prompt_tokens, None, CONTEXT_WINDOW)


async def test_prompt_plus_max_tokens_beyond_the_window(
    engine: TransformersEngine, tokenizer: Any
) -> None:
    text = "word " * (CONTEXT_WINDOW - 600)
    prompt_tokens = len(tokenizer(text)["input_ids"])
    request = GenerationRequest("r", TextPrompt(text), SamplingOptions(max_tokens=1000))
    with pytest.raises(ContextLengthExceeded) as caught:
        await run(engine, request)
    assert caught.value.args == (prompt_tokens, 1000, CONTEXT_WINDOW)
    assert str(prompt_tokens + 1000) in str(caught.value)


async def test_max_tokens_above_the_model_limit(engine: TransformersEngine) -> None:
    with pytest.raises(MaxTokensTooLarge) as caught:
        await run(engine, chat("Hi", SamplingOptions(max_tokens=MAX_OUTPUT_TOKENS + 1)))
    assert caught.value.args == (MAX_OUTPUT_TOKENS + 1, MAX_OUTPUT_TOKENS)
    assert f"{MAX_OUTPUT_TOKENS + 1}" in str(caught.value)
    assert f"{MAX_OUTPUT_TOKENS}" in str(caught.value)


@pytest.mark.parametrize(
    "messages",
    [({"role": "user"},), (), ({"role": "user", "content": None},)],
)
async def test_malformed_messages(engine: TransformersEngine, messages: Any) -> None:
    with pytest.raises(InvalidPrompt):
        await run(engine, GenerationRequest("r", ChatPrompt(messages)))


async def test_cancelled_consumer_frees_the_batch(engine: TransformersEngine) -> None:
    sampling = SamplingOptions(max_tokens=200, temperature=0.0)
    async for _chunk in engine.generate(chat("Write a long story about a dragon.", sampling)):
        break
    await wait_idle(engine)


async def test_cancelled_task_frees_the_batch(engine: TransformersEngine) -> None:
    sampling = SamplingOptions(max_tokens=200, temperature=0.0)
    task = asyncio.create_task(run(engine, chat("Write a long story about a dragon.", sampling)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_idle(engine)


async def test_stats_are_timestamped(engine: TransformersEngine) -> None:
    first = await engine.stats()
    await asyncio.sleep(0.01)
    second = await engine.stats()
    assert second.timestamp > first.timestamp
    assert (second.running, second.waiting, second.kv_cache_usage) == (0, 0, None)


async def test_close_fails_requests_in_flight(smol_model_dir: Path) -> None:
    engine = _load(smol_model_dir)
    await engine.check_health()
    sampling = SamplingOptions(max_tokens=500, temperature=0.0)
    stream = engine.generate(chat("Write a long story about a dragon.", sampling))
    await anext(stream)
    await asyncio.to_thread(engine.close)
    with pytest.raises(EngineUnavailable):
        async for _chunk in stream:
            pass
    with pytest.raises(EngineUnavailable):
        await engine.check_health()
    with pytest.raises(EngineUnavailable):
        await run(engine, chat("Hi"))


async def test_dead_scheduler_fails_requests(
    smol_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _load(smol_model_dir)

    def broken_step(tokens: object) -> None:
        raise RuntimeError("simulated kernel failure")

    # Fault injection: the decode step fails as a real forward pass could (e.g. OOM).
    monkeypatch.setattr(engine._scheduler._batch, "step", broken_step)
    with pytest.raises(EngineUnavailable):
        await run(engine, chat("Hi"))
    with pytest.raises(EngineUnavailable, match="simulated kernel failure"):
        await engine.check_health()
    engine.close()


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


async def test_json_schema_output_is_valid_against_the_schema(engine: TransformersEngine) -> None:
    request = replace(
        chat("Invent a person.", SamplingOptions(max_tokens=64, temperature=0.8, seed=3, n=2)),
        json_output=JsonOutput(schema=PERSON),
    )
    chunks = [chunk async for chunk in engine.generate(request)]
    texts = {index: "" for index in range(2)}
    for chunk in chunks:
        for delta in chunk.deltas:
            texts[delta.index] += delta.text
    for text in texts.values():
        jsonschema.validate(json.loads(text), PERSON)  # complete and valid, both choices
    assert {d.finish_reason for c in chunks for d in c.deltas if d.finish_reason} == {"stop"}


async def test_json_object_output_is_an_object(engine: TransformersEngine) -> None:
    request = replace(chat("List three colours."), json_output=JsonOutput())
    request = replace(request, sampling=SamplingOptions(max_tokens=200, temperature=0.0))
    text = "".join([d.text async for c in engine.generate(request) for d in c.deltas])
    assert isinstance(json.loads(text), dict)


async def test_a_schema_the_grammar_cannot_enforce_is_unsupported(
    engine: TransformersEngine,
) -> None:
    request = replace(chat("hi"), json_output=JsonOutput(schema={"$ref": "#/$defs/missing"}))
    with pytest.raises(UnsupportedFeature) as raised:
        await anext(engine.generate(request))
    assert raised.value.param == "response_format"


CITY = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
        "required": ["city"], "additionalProperties": False}  # fmt: skip
TOOLS = (
    {"type": "function", "function": {"name": "get_weather", "parameters": CITY}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
     "properties": {}, "additionalProperties": False}}},
)  # fmt: skip


async def called(engine: TransformersEngine, choice: str) -> tuple[list[Any], str | None]:
    request = replace(
        chat("What is the weather in Oslo?", SamplingOptions(max_tokens=64, temperature=0.0)),
        tool_use=ToolUse(TOOLS, choice),
    )
    fragments, finish = [], None
    async for chunk in engine.generate(request):
        for delta in chunk.deltas:
            fragments += delta.tool_calls
            finish = delta.finish_reason or finish
    return fragments, finish


async def test_a_named_tool_choice_is_a_valid_call_to_it(engine: TransformersEngine) -> None:
    fragments, finish = await called(engine, "get_weather")
    assert fragments[0].name == "get_weather" and fragments[0].id
    jsonschema.validate(json.loads("".join(f.arguments for f in fragments)), CITY)
    assert finish == "tool_calls"


async def test_required_is_a_valid_call_to_one_of_the_tools(engine: TransformersEngine) -> None:
    calls, finish = await called(engine, "required")
    assert calls and finish == "tool_calls"
    for call in calls:
        tool = next(t for t in TOOLS if t["function"]["name"] == call.name)
        jsonschema.validate(json.loads(call.arguments), tool["function"]["parameters"])


async def test_auto_without_a_tool_parser_is_unsupported(engine: TransformersEngine) -> None:
    with pytest.raises(UnsupportedFeature) as raised:
        await called(engine, "auto")
    assert raised.value.param == "tool_choice"
