"""Drive any ``Engine`` through one generation and collect what it streamed, and the other
helpers the engine contract (``tests/engine_contract.py``) and the engines' own suites
share."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from serving.engine import (
    ChatPrompt,
    Engine,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    SamplingOptions,
    ToolCallDelta,
    Usage,
)

GREEDY = SamplingOptions(max_tokens=16, temperature=0.0)


@dataclass
class Result:
    chunks: list[GenerationChunk] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    reasons: dict[int, FinishReason | None] = field(default_factory=dict)
    chunk_times: list[float] = field(default_factory=list)

    @property
    def usage(self) -> Usage:
        usage = self.chunks[-1].usage
        assert usage is not None
        return usage


async def run(engine: Engine, request: GenerationRequest) -> Result:
    """Collect the whole stream; usage must come on the last chunk only."""
    result = Result()
    async for chunk in engine.generate(request):
        result.chunks.append(chunk)
        result.chunk_times.append(time.monotonic())
        for delta in chunk.deltas:
            result.texts[delta.index] = result.texts.get(delta.index, "") + delta.text
            result.reasons[delta.index] = delta.finish_reason
    assert all(chunk.usage is None for chunk in result.chunks[:-1])
    return result


def chat(text: str, sampling: SamplingOptions = GREEDY, **fields: Any) -> GenerationRequest:
    """One user message; ``fields``: the request's other fields (json_output, tool_use)."""
    return GenerationRequest(
        "r", ChatPrompt(({"role": "user", "content": text},)), sampling, **fields
    )


async def wait_idle(engine: Engine) -> None:
    """Return once the engine reports nothing running or waiting (fail after 10 s)."""
    for _ in range(200):
        stats = await engine.stats()
        if stats.running == 0 and stats.waiting == 0:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"engine never went idle: {stats}")


def tool_calls(result: Result) -> dict[int, ToolCallDelta]:
    """The tool-call fragments of a one-choice result, joined per call index."""
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
