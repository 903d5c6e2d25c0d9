"""TransformersEngine against the real SmolLM2-135M: the engine contract
(``tests/engine_contract.py``), and what is its own: the batch scheduler (sequences as
rows, joining a running batch, batch-invariant results), closing and a dead scheduler,
and llguidance's grammars."""

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
from serving.engine import JsonOutput, SamplingOptions
from serving.errors import EngineUnavailable, UnsupportedFeature
from serving.transformers_engine import TransformersEngine
from tests.engine_contract import ClosedEngineContract, LocalEngineContract
from tests.engine_run import Result, chat, run, wait_idle

pytestmark = pytest.mark.slow

CONTEXT_WINDOW = 8192
MAX_OUTPUT_TOKENS = 1024
ARGS = TransformersEngineArgs(max_batch_size=8, torch_threads=2)


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


class TestTransformersEngineContract(LocalEngineContract, ClosedEngineContract):
    CONTEXT_WINDOW = CONTEXT_WINDOW
    MAX_OUTPUT_TOKENS = MAX_OUTPUT_TOKENS
    IDLE_KV_CACHE_USAGE = None  # no KV cache pool: each batch holds its own cache

    @pytest.fixture
    def closed_engine(self, smol_model_dir: Path) -> TransformersEngine:
        fresh = _load(smol_model_dir)
        fresh.close()
        return fresh


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


async def test_each_sampled_choice_follows_the_schema(engine: TransformersEngine) -> None:
    # Each of the n rows of the batch decodes under its own grammar state.
    request = replace(
        chat("Invent a person.", SamplingOptions(max_tokens=64, temperature=0.8, seed=3, n=2)),
        json_output=JsonOutput(schema=PERSON),
    )
    result = await run(engine, request)
    assert set(result.texts) == {0, 1}
    for text in result.texts.values():
        jsonschema.validate(json.loads(text), PERSON)  # complete and valid, both choices
    assert result.reasons == {0: "stop", 1: "stop"}


async def test_a_schema_the_grammar_cannot_enforce_is_unsupported(
    engine: TransformersEngine,
) -> None:
    request = replace(chat("hi"), json_output=JsonOutput(schema={"$ref": "#/$defs/missing"}))
    with pytest.raises(UnsupportedFeature) as raised:
        await anext(engine.generate(request))
    assert raised.value.param == "response_format"
