"""Fixtures of the vLLM tests: the real vLLM CPU build on SmolLM2."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from serving.config import VllmEngineArgs
from serving.vllm_engine import VllmEngine

# The prepared folder is local; vLLM and transformers must never reach for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONTEXT_WINDOW = 2048
MAX_OUTPUT_TOKENS = 256
# fp32 and eager: the CPU build's working settings; 1 GiB of KV cache (23k tokens), both
# cores for the one engine (see CPU-FLEET.md, "vLLM on CPU").
VLLM_CPU_ARGS = VllmEngineArgs(
    dtype="float32", enforce_eager=True, cpu_kv_cache_gib=1, cpu_threads_bind="0-1"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vllm_engine(smol_model_dir: Path) -> AsyncIterator[VllmEngine]:
    """One engine per test module (it takes ~20 s to start). Module-scoped event loop: vLLM's
    output handler task lives on the loop of the first request, so every test of the module
    must share it."""
    engine = VllmEngine.load(
        smol_model_dir,
        context_window=CONTEXT_WINDOW,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        args=VLLM_CPU_ARGS,
    )
    yield engine
    engine.close()
