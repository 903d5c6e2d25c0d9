"""Drive any ``Engine`` through one generation and collect what it streamed (used by the
transformers and vLLM engine suites alike)."""

import time
from dataclasses import dataclass, field

from serving.engine import Engine, FinishReason, GenerationChunk, GenerationRequest, Usage


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
