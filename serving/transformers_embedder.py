"""The in-process embedding engine: sentence-transformers over a local model folder, so a
model gets the pooling and normalisation its ``modules.json`` names (as vLLM's pooling
runner reads them too). The model runs on the engine's own thread, a batch at a time:
requests that arrive while a batch runs are embedded together in the next one, up to
``max_batch_size`` inputs (a larger request runs alone, in slices of that size), so many
small concurrent requests cost a few forward passes rather than one each. The event
loop only waits."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sentence_transformers import SentenceTransformer

from serving.config import TransformersEngineArgs
from serving.embedding import EmbeddingInput, EmbeddingRequest, Embeddings, check_inputs
from serving.engine import EngineStats
from serving.errors import EngineFailed

logger = logging.getLogger(__name__)


class TransformersEmbedder:
    """Embeds with one sentence-transformers model; implements ``serving.embedding.Embedder``."""

    def __init__(self, model: Any, *, context_window: int, max_batch_size: int) -> None:
        self._model = model
        self._tokenizer = model.tokenizer
        self._context_window, self._max_batch_size = context_window, max_batch_size
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="embed")
        self._queue: deque[_Queued] = deque()  # checked, waiting for a batch
        self._batches: asyncio.Task[None] | None = None  # runs while the queue has work
        self._in_flight = 0  # requests anywhere in here
        self._running = 0  # requests in the batch on the thread now

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
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        try:
            token_ids = await loop.run_in_executor(self._thread, self._checked, request.inputs)
            queued = _Queued(token_ids, loop.create_future())
            self._queue.append(queued)
            if self._batches is None or self._batches.done():
                self._batches = asyncio.ensure_future(self._run_batches())
            vectors = await queued.vectors
        finally:
            self._in_flight -= 1
        return Embeddings.of(vectors, sum(len(ids) for ids in token_ids))

    def _checked(self, inputs: Sequence[EmbeddingInput]) -> list[list[int]]:
        token_ids = self._token_ids(inputs)
        check_inputs(token_ids, self._context_window, len(self._tokenizer))
        return token_ids

    async def _run_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch = self._next_batch()
            token_ids = [ids for queued in batch for ids in queued.token_ids]
            self._running = len(batch)
            try:
                rows = await loop.run_in_executor(self._thread, self._forward, token_ids)
            except Exception as exc:  # the batch's requests fail; the engine goes on
                logger.exception("embedding batch failed")
                failed = EngineFailed(f"embedding failed: {type(exc).__name__}")
                for queued in batch:
                    _settle(queued.vectors, failed)
                continue
            finally:
                self._running = 0
            start = 0
            for queued in batch:
                end = start + len(queued.token_ids)
                _settle(queued.vectors, rows[start:end])
                start = end

    def _next_batch(self) -> list["_Queued"]:
        """The oldest request, and those after it that fit in ``max_batch_size`` inputs."""
        batch = [self._queue.popleft()]
        size = len(batch[0].token_ids)
        while self._queue and size + len(self._queue[0].token_ids) <= self._max_batch_size:
            size += len(self._queue[0].token_ids)
            batch.append(self._queue.popleft())
        return batch

    def _forward(self, token_ids: list[list[int]]) -> NDArray[np.float32]:
        rows = []
        with torch.inference_mode():
            for start in range(0, len(token_ids), self._max_batch_size):
                batch = self._tokenizer.pad(
                    {"input_ids": token_ids[start : start + self._max_batch_size]},
                    return_tensors="pt",
                )
                rows.append(self._model(dict(batch))["sentence_embedding"].float())
        return torch.cat(rows).numpy()

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
        running = self._running
        return EngineStats(time.time(), running=running, waiting=self._in_flight - running)

    async def check_health(self) -> None:
        return None

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class _Queued:
    token_ids: list[list[int]]
    vectors: "asyncio.Future[NDArray[np.float32]]"


def _settle(
    future: "asyncio.Future[NDArray[np.float32]]", outcome: NDArray[np.float32] | Exception
) -> None:
    if future.done():  # its caller left
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
