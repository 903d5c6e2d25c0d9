"""The in-process embedding engine: sentence-transformers over a local model folder, so a
model gets the pooling and normalisation its ``modules.json`` names (as vLLM's pooling
runner reads them too). One request at a time runs on the engine's own thread, in
batches of ``max_batch_size`` inputs; the event loop only waits."""

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer

from serving.config import TransformersEngineArgs
from serving.embedding import EmbeddingInput, EmbeddingRequest, Embeddings, check_inputs
from serving.engine import EngineStats

logger = logging.getLogger(__name__)


class TransformersEmbedder:
    """Embeds with one sentence-transformers model; implements ``serving.embedding.Embedder``."""

    def __init__(self, model: Any, *, context_window: int, max_batch_size: int) -> None:
        self._model = model
        self._tokenizer = model.tokenizer
        self._context_window, self._max_batch_size = context_window, max_batch_size
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="embed")
        self._in_flight = 0  # requests on or queued for the thread

    @classmethod
    def load(
        cls, model_dir: Path, *, context_window: int, args: TransformersEngineArgs
    ) -> "TransformersEmbedder":
        """Load from a model folder (never the network)."""
        if args.torch_threads is not None:
            torch.set_num_threads(args.torch_threads)
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        model.to(getattr(torch, args.dtype))
        model.eval()
        logger.info("loaded embedding model %s (%s)", model_dir, args.dtype)
        return cls(model, context_window=context_window, max_batch_size=args.max_batch_size)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._embed_now, request.inputs)
        finally:
            self._in_flight -= 1

    def _embed_now(self, inputs: Sequence[EmbeddingInput]) -> Embeddings:
        token_ids = self._token_ids(inputs)
        check_inputs(token_ids, self._context_window, len(self._tokenizer))
        rows = []
        with torch.inference_mode():
            for start in range(0, len(token_ids), self._max_batch_size):
                batch = self._tokenizer.pad(
                    {"input_ids": token_ids[start : start + self._max_batch_size]},
                    return_tensors="pt",
                )
                rows.append(self._model(dict(batch))["sentence_embedding"].float())
        vectors = torch.cat(rows).numpy()
        return Embeddings.of(vectors, sum(len(ids) for ids in token_ids))

    def _token_ids(self, inputs: Sequence[EmbeddingInput]) -> list[list[int]]:
        """Texts tokenized as the model reads them (its special tokens added, nothing cut
        off: a long input is refused, not silently truncated); token ids as given."""
        texts = [(i, text) for i, text in enumerate(inputs) if isinstance(text, str)]
        ids = [list(x) if not isinstance(x, str) else [] for x in inputs]
        if texts:
            encoded = self._tokenizer(
                [text for _, text in texts], add_special_tokens=True, verbose=False
            )
            for (index, _), text_ids in zip(texts, encoded["input_ids"], strict=True):
                ids[index] = text_ids
        return ids

    async def stats(self) -> EngineStats:
        running = min(1, self._in_flight)
        return EngineStats(time.time(), running=running, waiting=self._in_flight - running)

    async def check_health(self) -> None:
        return None

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
