"""TransformersEngine against the real SmolLM2-135M: streaming, limits, sampling, batching."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from serving.config import TransformersEngineArgs
from serving.engine import (
    ChatPrompt,
    Engine,
    GenerationRequest,
    SamplingOptions,
    TextPrompt,
    Usage,
)
from serving.errors import (
    ContextLengthExceeded,
    EngineUnavailable,
    InvalidPrompt,
    MaxTokensTooLarge,
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
    monkeypatch.setattr(engine._batch, "step", broken_step)
    with pytest.raises(EngineUnavailable):
        await run(engine, chat("Hi"))
    with pytest.raises(EngineUnavailable, match="simulated kernel failure"):
        await engine.check_health()
    engine.close()
