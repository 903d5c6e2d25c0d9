"""VllmEngine against vLLM's CPU build and the real SmolLM2-135M (fp32, eager): the engine
contract (``tests/engine_contract.py``), and what is its own: importing without vLLM,
aborting in vLLM, its KV-cache and preemption stats, and the EngineCore process dying."""

import asyncio
from contextlib import aclosing
from pathlib import Path
from typing import Any

import psutil
import pytest
from transformers import AutoTokenizer

from serving.engine import Engine, EngineStats, GenerationRequest, SamplingOptions, TextPrompt
from serving.errors import EngineUnavailable
from serving.vllm_engine import VllmEngine
from tests.engine_contract import CAPITAL, STORY, ClosedEngineContract, LocalEngineContract
from tests.engine_run import chat, run
from tests.vllm.conftest import CONTEXT_WINDOW, MAX_OUTPUT_TOKENS

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def tokenizer(smol_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(smol_model_dir)


@pytest.fixture
def engine(vllm_engine: VllmEngine) -> VllmEngine:
    return vllm_engine


async def poll_stats(engine: Engine, until: "asyncio.Future[Any]") -> list[EngineStats]:
    seen = []
    while not until.done():
        seen.append(await engine.stats())
        await asyncio.sleep(0.01)
    return seen


class TestVllmEngineContract(LocalEngineContract):
    CONTEXT_WINDOW = CONTEXT_WINDOW
    MAX_OUTPUT_TOKENS = MAX_OUTPUT_TOKENS
    IDLE_KV_CACHE_USAGE = 0.0  # nothing in flight: idle is known now, the cache is free


async def test_stats_report_the_kv_cache_and_preemptions(vllm_engine: VllmEngine) -> None:
    await run(vllm_engine, chat(CAPITAL))
    stats = await vllm_engine.stats()
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


async def test_sampling_adjustments_reach_vllm(vllm_engine: VllmEngine) -> None:
    """top_k=1 makes sampling at temperature 1 greedy; a presence penalty changes a
    repetitive greedy answer (each token it already said costs 2 logits)."""
    greedy = (await run(vllm_engine, chat(STORY))).texts[0]
    top_one = SamplingOptions(max_tokens=16, temperature=1.0, seed=3, top_k=1)
    assert (await run(vllm_engine, chat(STORY, top_one))).texts[0] == greedy
    repeat = "Say 'the' twenty times: the the the"
    plain = (await run(vllm_engine, chat(repeat))).texts[0]
    penalised = SamplingOptions(max_tokens=16, temperature=0.0, presence_penalty=2.0)
    assert (await run(vllm_engine, chat(repeat, penalised))).texts[0] != plain


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


class TestVllmEngineShutdown(ClosedEngineContract):
    """Last in the file on purpose: it closes the module's (dead) engine."""

    @pytest.fixture
    def closed_engine(self, vllm_engine: VllmEngine) -> VllmEngine:
        vllm_engine.close()
        return vllm_engine
