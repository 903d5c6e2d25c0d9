"""VllmEngine against vLLM's CPU build and the real SmolLM2-135M (fp32, eager): streaming,
usage, limits, sampling, JSON output, load stats, errors and cancellation."""

import asyncio
import json
import subprocess
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import psutil
import pytest
from transformers import AutoTokenizer

from serving.engine import (
    ChatPrompt,
    Engine,
    EngineStats,
    GenerationRequest,
    JsonOutput,
    SamplingOptions,
    TextPrompt,
    ToolCallDelta,
    ToolUse,
    Usage,
)
from serving.errors import ContextLengthExceeded, EngineUnavailable, UnsupportedFeature
from serving.vllm_engine import VllmEngine
from tests.engine_run import Result, run
from tests.vllm.conftest import CONTEXT_WINDOW

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="module")]

GREEDY = SamplingOptions(max_tokens=16, temperature=0.0)
STORY = "Write a long story about a dragon."
CAPITAL = "What is the capital of France?"


@pytest.fixture(scope="module")
def tokenizer(smol_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(smol_model_dir)


def chat(text: str, sampling: SamplingOptions = GREEDY, **fields: Any) -> GenerationRequest:
    return GenerationRequest(
        "r", ChatPrompt(({"role": "user", "content": text},)), sampling, **fields
    )


async def poll_stats(engine: Engine, until: "asyncio.Future[Any]") -> list[EngineStats]:
    seen = []
    while not until.done():
        seen.append(await engine.stats())
        await asyncio.sleep(0.01)
    return seen


def test_module_imports_without_vllm() -> None:
    code = "import sys, serving.vllm_engine; sys.exit('vllm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


async def test_implements_the_engine_protocol(vllm_engine: VllmEngine) -> None:
    assert isinstance(vllm_engine, Engine)
    await vllm_engine.check_health()


async def test_chat_text_and_exact_usage(vllm_engine: VllmEngine, tokenizer: Any) -> None:
    messages = ({"role": "user", "content": CAPITAL},)
    result = await run(vllm_engine, GenerationRequest("r", ChatPrompt(messages), GREEDY))
    template_ids = tokenizer.apply_chat_template(
        list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert "Paris" in result.texts[0]
    assert result.reasons[0] == "stop"
    assert result.usage.prompt_tokens == len(template_ids)
    # EOS is generated and counted, but its text is not emitted.
    emitted = tokenizer(result.texts[0], add_special_tokens=False)["input_ids"]
    assert result.usage.completion_tokens == len(emitted) + 1


async def test_text_prompt_is_tokenized_without_template(
    vllm_engine: VllmEngine, tokenizer: Any
) -> None:
    text = "The quick brown fox"
    request = GenerationRequest("r", TextPrompt(text), SamplingOptions(max_tokens=4))
    result = await run(vllm_engine, request)
    assert result.usage == Usage(len(tokenizer(text)["input_ids"]), 4)


async def test_streams_a_16_token_answer_in_several_chunks(vllm_engine: VllmEngine) -> None:
    result = await run(vllm_engine, chat(STORY))
    assert len([chunk for chunk in result.chunks if chunk.deltas]) > 1
    assert result.usage.completion_tokens == 16


async def test_max_tokens_ends_with_length(vllm_engine: VllmEngine) -> None:
    result = await run(vllm_engine, chat(STORY, SamplingOptions(max_tokens=5, temperature=0.0)))
    assert result.usage.completion_tokens == 5
    assert result.reasons == {0: "length"}


async def test_stop_string_ends_the_choice_and_is_not_emitted(vllm_engine: VllmEngine) -> None:
    assert "Paris" in (await run(vllm_engine, chat(CAPITAL))).texts[0]
    sampling = SamplingOptions(max_tokens=16, temperature=0.0, stop=("Paris",))
    result = await run(vllm_engine, chat(CAPITAL, sampling))
    assert "Paris" not in result.texts[0] and result.texts[0]
    assert result.reasons == {0: "stop"}


async def test_n_choices_are_indexed_and_their_tokens_summed(vllm_engine: VllmEngine) -> None:
    sampling = SamplingOptions(max_tokens=8, temperature=1.0, seed=7, n=2)
    result = await run(vllm_engine, chat(STORY, sampling))
    assert set(result.texts) == {0, 1}
    assert result.reasons == {0: "length", 1: "length"}
    assert result.usage.completion_tokens == 2 * 8


async def test_greedy_n_choices_repeat_one_decoding(vllm_engine: VllmEngine) -> None:
    # vLLM refuses n > 1 without sampling; the engine decodes once and repeats the choice.
    one = await run(vllm_engine, chat(CAPITAL))
    two = await run(vllm_engine, chat(CAPITAL, SamplingOptions(max_tokens=16, temperature=0, n=2)))
    assert two.texts == {0: one.texts[0], 1: one.texts[0]}
    assert two.usage == Usage(one.usage.prompt_tokens, 2 * one.usage.completion_tokens)


async def test_same_seed_same_text(vllm_engine: VllmEngine) -> None:
    sampling = SamplingOptions(max_tokens=12, temperature=1.0, seed=1234)
    first = await run(vllm_engine, chat(STORY, sampling))
    second = await run(vllm_engine, chat(STORY, sampling))
    assert first.texts == second.texts and first.texts[0]


async def test_json_schema_output(vllm_engine: VllmEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}},
        "required": ["age"],
        "additionalProperties": False,
    }
    request = chat(
        "How old is a person born in 2000 in 2025? Answer in JSON.",
        SamplingOptions(max_tokens=40, temperature=0.0),
        json_output=JsonOutput(schema),
    )
    result = await run(vllm_engine, request)
    answer = json.loads(result.texts[0])
    assert set(answer) == {"age"} and isinstance(answer["age"], int)


async def test_json_object_output(vllm_engine: VllmEngine) -> None:
    request = chat(
        "Describe a cat as a JSON object with a name and a colour.",
        SamplingOptions(max_tokens=64, temperature=0.0),
        json_output=JsonOutput(),
    )
    result = await run(vllm_engine, request)
    assert result.reasons == {0: "stop"}
    assert isinstance(json.loads(result.texts[0]), dict)


async def test_stats_are_recent_and_count_running_requests(vllm_engine: VllmEngine) -> None:
    await run(vllm_engine, chat(CAPITAL))
    stats = await vllm_engine.stats()
    assert time.time() - stats.timestamp < 1.0
    assert stats.kv_cache_usage is not None
    assert stats.max_running and stats.max_running > 0  # the scheduler's max_num_seqs
    assert stats.preemptions == 0  # counted (vLLM preempts), none needed with 1 GiB of cache
    sampling = SamplingOptions(max_tokens=32, temperature=0.0)
    requests = asyncio.gather(*(run(vllm_engine, chat(STORY, sampling)) for _ in range(4)))
    seen = await poll_stats(vllm_engine, requests)
    await requests
    assert max(stats.running for stats in seen) > 0
    assert all(0.0 <= (stats.kv_cache_usage or 0.0) <= 1.0 for stats in seen)
    assert max(stats.kv_cache_usage or 0.0 for stats in seen) > 0.0


async def test_oversized_prompt_names_the_numbers(vllm_engine: VllmEngine) -> None:
    request = chat("word " * 3000, SamplingOptions(max_tokens=4))
    with pytest.raises(ContextLengthExceeded) as raised:
        await anext(vllm_engine.generate(request))
    assert raised.value.context_window == CONTEXT_WINDOW
    assert raised.value.prompt_tokens > CONTEXT_WINDOW
    assert str(CONTEXT_WINDOW) in str(raised.value)
    assert str(raised.value.prompt_tokens) in str(raised.value)


async def test_cancelled_request_is_aborted_in_vllm(vllm_engine: VllmEngine) -> None:
    long = SamplingOptions(max_tokens=200, temperature=0.0)
    async with aclosing(vllm_engine.generate(chat(STORY, long))) as stream:
        async for _ in stream:
            break
    # Were the abandoned request still decoding, vLLM would count two running requests.
    follow_up = asyncio.ensure_future(run(vllm_engine, chat(STORY)))
    seen = await poll_stats(vllm_engine, follow_up)
    assert (await follow_up).usage.completion_tokens == 16
    assert max(stats.running for stats in seen) <= 1
    assert (await vllm_engine.stats()).running == 0


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    },
}


def tool_calls(result: Result) -> dict[int, ToolCallDelta]:
    """Fragments of choice 0 joined per call index."""
    calls: dict[int, ToolCallDelta] = {}
    for chunk in result.chunks:
        for delta in chunk.deltas:
            for fragment in delta.tool_calls:
                known = calls.get(fragment.index, ToolCallDelta(fragment.index))
                calls[fragment.index] = ToolCallDelta(
                    fragment.index,
                    known.id or fragment.id,
                    known.name or fragment.name,
                    known.arguments + fragment.arguments,
                )
    return calls


async def test_named_tool_choice_streams_a_valid_call(vllm_engine: VllmEngine) -> None:
    request = chat(
        "What is the weather in Paris?",
        SamplingOptions(max_tokens=40),
        tool_use=ToolUse((WEATHER, TIME), "get_weather"),
    )
    result = await run(vllm_engine, request)
    [call] = tool_calls(result).values()
    assert call.name == "get_weather" and call.id
    assert set(json.loads(call.arguments)) == {"city"}
    assert result.reasons[0] == "tool_calls"
    assert sum(len(d.tool_calls) for c in result.chunks for d in c.deltas) > 1  # streamed


async def test_required_tool_choice_gives_calls(vllm_engine: VllmEngine) -> None:
    request = chat(
        "What time is it?",
        SamplingOptions(max_tokens=60),
        tool_use=ToolUse((WEATHER, TIME), "required"),
    )
    result = await run(vllm_engine, request)
    calls = tool_calls(result)
    assert calls and all(call.name in {"get_weather", "get_time"} for call in calls.values())
    assert all(isinstance(json.loads(call.arguments), dict) for call in calls.values())
    assert result.reasons[0] == "tool_calls" and result.texts.get(0, "") == ""


async def test_auto_without_a_tool_parser_is_refused(vllm_engine: VllmEngine) -> None:
    with pytest.raises(UnsupportedFeature):
        await run(vllm_engine, chat("hi", tool_use=ToolUse((WEATHER,), "auto")))


async def test_engine_death_makes_it_unavailable(vllm_engine: VllmEngine) -> None:
    # Second to last in the file on purpose: it kills the module's engine.
    cores = [p for p in psutil.Process().children(recursive=True) if "EngineCore" in p.name()]
    assert cores, "vLLM's EngineCore process not found"
    request = GenerationRequest(
        "r", TextPrompt("Once upon a time"), SamplingOptions(max_tokens=200)
    )
    stream = vllm_engine.generate(request)
    await anext(stream)
    for core in cores:
        core.kill()
    with pytest.raises(EngineUnavailable):
        async for _ in stream:
            pass
    with pytest.raises(EngineUnavailable):
        await vllm_engine.check_health()
    with pytest.raises(EngineUnavailable):
        await anext(vllm_engine.generate(chat(CAPITAL)))


async def test_shutdown_makes_the_engine_unavailable(vllm_engine: VllmEngine) -> None:
    # Last in the file on purpose: it closes the module's (dead) engine.
    vllm_engine.close()
    with pytest.raises(EngineUnavailable):
        await vllm_engine.check_health()
    with pytest.raises(EngineUnavailable):
        await anext(vllm_engine.generate(chat(CAPITAL)))
