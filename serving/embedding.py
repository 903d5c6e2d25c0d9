"""The embedding side of the engine interface: what ``/v1/embeddings`` asks of a local
model whose ``task`` is ``embed``, and what comes back. Plain, frozen, picklable data, as
it travels through Ray Serve handles. Every input is checked before any is embedded, so
a request fails whole or not at all."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from serving.engine import EngineStats
from serving.errors import InputTooLong, InvalidPrompt

# One input: a text, or token ids of the model's own vocabulary (used as given).
EmbeddingInput = str | tuple[int, ...]


@dataclass(frozen=True)
class EmbeddingRequest:
    request_id: str
    inputs: tuple[EmbeddingInput, ...]


@dataclass(frozen=True)
class Embeddings:
    """One vector per input, in order, as float32 little-endian rows: compact through Ray,
    and the bytes ``encoding_format: base64`` sends."""

    data: bytes
    dimensions: int
    prompt_tokens: int  # over every input

    @classmethod
    def of(cls, vectors: NDArray[np.floating[Any]], prompt_tokens: int) -> "Embeddings":
        rows = np.ascontiguousarray(vectors, dtype="<f4")
        return cls(rows.tobytes(), int(rows.shape[1]), prompt_tokens)

    def rows(self) -> NDArray[np.float32]:
        return np.frombuffer(self.data, dtype="<f4").reshape(-1, self.dimensions)


@runtime_checkable
class Embedder(Protocol):
    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """The inputs' vectors; an ``EngineError`` if one cannot be embedded (too long,
        a token id outside the vocabulary)."""
        ...

    async def stats(self) -> EngineStats: ...

    async def check_health(self) -> None:
        """Return when healthy; raise otherwise."""
        ...


def check_inputs(token_ids: Sequence[Sequence[int]], limit: int, vocabulary: int) -> None:
    """Raise for the first input longer than ``limit`` tokens, empty, or with an id the
    model does not have (``token_ids``: each input as the model will read it)."""
    for index, ids in enumerate(token_ids):
        if len(ids) > limit:
            raise InputTooLong(index, len(ids), limit)
        if not ids:
            raise InvalidPrompt(f"input[{index}] is empty: there is nothing to embed.")
        outside = next((i for i in ids if not 0 <= i < vocabulary), None)
        if outside is not None:
            raise InvalidPrompt(
                f"input[{index}] has token id {outside}, outside this model's vocabulary "
                f"(0 to {vocabulary - 1})."
            )
