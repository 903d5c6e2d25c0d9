"""VllmEmbedder on vLLM's CPU build (the pooling runner) and the default fleet's
all-MiniLM-L6-v2: the vectors the transformers embedder gives, the same refusals, and
load stats while it embeds."""

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from serving.embedding import EmbeddingRequest
from serving.errors import InputTooLong, InvalidPrompt
from serving.transformers_embedder import TransformersEmbedder
from serving.vllm_embedder import VllmEmbedder
from serving.weights import default_models_dir, prepared_dir
from tests.builders import minilm_model
from tests.vllm.conftest import VLLM_CPU_ARGS

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="module")]
TEXTS = ("The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell.")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def embedder() -> AsyncIterator[VllmEmbedder]:
    model = minilm_model()
    loaded = VllmEmbedder.load(
        prepared_dir(model, default_models_dir()),
        context_window=model.context_window,
        args=VLLM_CPU_ARGS,
        name=model.id,
    )
    yield loaded
    loaded.close()


async def test_vectors_match_the_transformers_engine(
    embedder: VllmEmbedder, minilm: TransformersEmbedder
) -> None:
    request = EmbeddingRequest("v", (*TEXTS, (101, 1996, 4937, 102)))
    ours, reference = await embedder.embed(request), await minilm.embed(request)
    assert ours.dimensions == 384 and ours.prompt_tokens == reference.prompt_tokens == 28
    cosine = np.sum(ours.rows() * reference.rows(), axis=1)  # both normalised
    assert np.all(cosine > 0.9999), cosine


async def test_the_same_refusals_before_anything_runs(embedder: VllmEmbedder) -> None:
    with pytest.raises(InputTooLong):
        await embedder.embed(EmbeddingRequest("long", (TEXTS[0], "word " * 300)))
    with pytest.raises(InvalidPrompt, match="token id 30522"):
        await embedder.embed(EmbeddingRequest("id", ((101, 30522, 102),)))


async def test_stats_show_the_work_in_flight(embedder: VllmEmbedder) -> None:
    work = asyncio.ensure_future(embedder.embed(EmbeddingRequest("busy", TEXTS * 100)))
    seen = []
    while not work.done():
        stats = await embedder.stats()
        seen.append(stats.running + stats.waiting)
        await asyncio.sleep(0.005)
    assert (await work).rows().shape == (300, 384)
    assert max(seen) > 0
    idle = await embedder.stats()
    assert idle.running == idle.waiting == 0
