"""The engines a local model can run on, one spec each.

Adding an engine: a module implementing ``serving.engine.Engine`` (and one implementing
``serving.embedding.Embedder``, for embedding models), its name in ``EngineName`` and its
settings model on ``LocalEngineConfig`` (``serving/config.py``), and its spec here.
Loaders import their engine when called: vLLM is an optional extra and takes seconds to
import, and the router side reads these specs without either.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from serving.config import EngineName, LocalEngineConfig
from serving.embedding import Embedder
from serving.engine import NEUTRAL_ADJUSTMENTS, Engine

VLLM_ADJUSTMENTS = frozenset(NEUTRAL_ADJUSTMENTS)  # SamplingParams takes each by its name


@dataclass(frozen=True)
class EngineSpec:
    load: Callable[[LocalEngineConfig, Path], Engine]  # the model, its prepared weights
    load_embedder: Callable[[LocalEngineConfig, Path], Embedder]  # for ``task: embed``
    extra: str | None  # the optional package it needs (checked before serving)
    json_output: bool  # can guarantee ``response_format`` JSON (constrained decoding)
    adjustments: frozenset[str] = frozenset()  # ``SamplingOptions.adjustments`` honoured


def _transformers(model: LocalEngineConfig, folder: Path) -> Engine:
    from serving.transformers_engine import TransformersEngine

    return TransformersEngine.load(
        folder,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        args=model.transformers,
    )


def _vllm(model: LocalEngineConfig, folder: Path) -> Engine:
    from serving.vllm_engine import VllmEngine

    return VllmEngine.load(
        folder,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        args=model.vllm,
        name=model.id,
    )


def _transformers_embedder(model: LocalEngineConfig, folder: Path) -> Embedder:
    from serving.transformers_embedder import TransformersEmbedder

    return TransformersEmbedder.load(
        folder, context_window=model.context_window, args=model.transformers
    )


def _vllm_embedder(model: LocalEngineConfig, folder: Path) -> Embedder:
    from serving.vllm_embedder import VllmEmbedder

    return VllmEmbedder.load(
        folder, context_window=model.context_window, args=model.vllm, name=model.id
    )


ENGINES: Mapping[EngineName, EngineSpec] = {
    "transformers": EngineSpec(_transformers, _transformers_embedder, extra=None, json_output=True),
    "vllm": EngineSpec(
        _vllm, _vllm_embedder, extra="vllm", json_output=True, adjustments=VLLM_ADJUSTMENTS
    ),
}


def load_engine(model: LocalEngineConfig, folder: Path) -> Engine:
    return ENGINES[model.engine].load(model, folder)


def load_embedder(model: LocalEngineConfig, folder: Path) -> Embedder:
    return ENGINES[model.engine].load_embedder(model, folder)
