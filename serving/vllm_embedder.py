"""The vLLM embedding engine: vLLM's pooling runner (``runner="pooling"``), which reads a
sentence-transformers folder's pooling and normalisation as the transformers embedder
does, behind ``serving.embedding.Embedder``. Each input is one vLLM request; vLLM batches
them. Imports vLLM only inside functions, like ``serving.vllm_engine``."""

import asyncio
import importlib
import logging
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from serving.config import VllmEngineArgs
from serving.embedding import EmbeddingRequest, Embeddings, check_inputs
from serving.engine import EngineStats
from serving.errors import EngineError, EngineFailed, EngineUnavailable, InvalidPrompt
from serving.vllm_requests import engine_error
from serving.vllm_setup import EngineLifecycle, LoadGauge, engine_tokenizer, start_engine

logger = logging.getLogger(__name__)


class VllmEmbedder(EngineLifecycle):
    """Embeds with one model on vLLM; implements ``serving.embedding.Embedder``."""

    def __init__(self, engine: Any, gauge: LoadGauge, *, context_window: int) -> None:
        super().__init__(engine)
        self._gauge = gauge
        self._context_window = context_window
        self._tokenizer: Any = None
        self._in_flight = 0

    @classmethod
    def load(
        cls, model_dir: Path, *, context_window: int, args: VllmEngineArgs, name: str | None = None
    ) -> "VllmEmbedder":
        engine, gauge = start_engine(model_dir, context_window, args, name, runner="pooling")
        return cls(engine, gauge, context_window=context_window)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        if self._closed:
            raise EngineUnavailable("the engine is shut down")
        if self._tokenizer is None:
            self._tokenizer = await engine_tokenizer(self._engine)
        token_ids = [
            self._tokenizer.encode(item) if isinstance(item, str) else list(item)
            for item in request.inputs
        ]
        check_inputs(token_ids, self._context_window, len(self._tokenizer))
        params = importlib.import_module("vllm").PoolingParams(task="embed")
        prefix = f"{request.request_id}-{secrets.token_hex(4)}"
        self._in_flight += 1
        try:
            rows = await asyncio.gather(
                *(self._one(ids, params, f"{prefix}-{i}") for i, ids in enumerate(token_ids))
            )
        finally:
            self._in_flight -= 1
        return Embeddings.of(np.stack(rows), sum(len(ids) for ids in token_ids))

    async def _one(self, token_ids: list[int], params: Any, vllm_id: str) -> Any:
        """One input's vector. Cancelled (the client left, or another input failed), its
        vLLM request is aborted."""
        final = None
        try:
            async for output in self._engine.encode(
                {"prompt_token_ids": token_ids}, params, vllm_id
            ):
                final = output
        except asyncio.CancelledError:
            await self._engine.abort(vllm_id)
            raise
        except Exception as exc:
            raise self._engine_error(exc) from exc
        if final is None:
            raise EngineFailed("the vLLM stream ended without a vector")
        return final.outputs.data.float().cpu().numpy()

    def _engine_error(self, exc: Exception) -> EngineError:
        return engine_error(exc, self._engine, InvalidPrompt)

    async def stats(self) -> EngineStats:
        return self._gauge.stats(self._in_flight)
