"""The transformers embedding engine on the default fleet's all-MiniLM-L6-v2: real vectors,
and every way a request can be refused before any is embedded."""

import asyncio
import re

import numpy as np
import pytest

from serving.embedding import EmbeddingRequest, Embeddings
from serving.errors import InputTooLong, InvalidPrompt
from serving.transformers_embedder import TransformersEmbedder

CAT, KITTEN, MARKETS = "The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell."
TEXTS = (CAT, KITTEN, MARKETS)


def embed(embedder: TransformersEmbedder, *inputs: str | tuple[int, ...]) -> Embeddings:
    return asyncio.run(embedder.embed(EmbeddingRequest("t", inputs)))


def test_vectors_are_normalised_and_near_for_near_meanings(minilm: TransformersEmbedder) -> None:
    result = embed(minilm, CAT, KITTEN, MARKETS)
    rows = result.rows()
    assert rows.shape == (3, 384) and result.dimensions == 384
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    similarity = rows @ rows.T
    assert similarity[0, 1] > 0.5 > 0.2 > similarity[0, 2]
    assert result.prompt_tokens == 9 + 9 + 6  # [CLS] ... [SEP] each


def test_a_batch_embeds_each_input_as_alone(minilm: TransformersEmbedder) -> None:
    together = embed(minilm, CAT, "a much longer input " * 10, KITTEN).rows()
    alone = np.vstack([embed(minilm, text).rows() for text in (CAT, KITTEN)])
    assert np.allclose(together[[0, 2]], alone, atol=1e-5)  # padding changes nothing


def test_token_ids_are_read_as_given(minilm: TransformersEmbedder) -> None:
    ids = tuple(minilm._tokenizer(CAT)["input_ids"])
    assert np.allclose(embed(minilm, ids).rows(), embed(minilm, CAT).rows(), atol=1e-6)


def test_an_input_over_the_window_is_refused_not_truncated(minilm: TransformersEmbedder) -> None:
    with pytest.raises(InputTooLong) as refused:
        embed(minilm, CAT, "word " * 300)
    assert (refused.value.index, refused.value.limit) == (1, 256)
    assert refused.value.tokens == 302 and "input[1] has 302 tokens" in str(refused.value)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [((CAT, (101, 30522, 102)), "input[1] has token id 30522"), (((),), "input[0] is empty")],
)
def test_token_ids_the_model_lacks_are_refused(
    minilm: TransformersEmbedder, inputs: tuple[str | tuple[int, ...], ...], expected: str
) -> None:
    with pytest.raises(InvalidPrompt, match=re.escape(expected)):
        embed(minilm, *inputs)


def test_concurrent_requests_are_embedded_together(minilm: TransformersEmbedder) -> None:
    async def concurrently() -> tuple[list[Embeddings], int]:
        tasks = [asyncio.ensure_future(minilm.embed(EmbeddingRequest(str(i), (text,))))
                 for i, text in enumerate(TEXTS * 8)]  # fmt: skip
        most_running = 0
        while not all(task.done() for task in tasks):
            most_running = max(most_running, (await minilm.stats()).running)
            await asyncio.sleep(0.001)
        return [task.result() for task in tasks], most_running

    results, most_running = asyncio.run(concurrently())
    assert most_running > 1  # requests that queued behind a batch ran as one
    alone = embed(minilm, *TEXTS).rows()
    for index, result in enumerate(results):
        assert np.allclose(result.rows()[0], alone[index % 3], atol=1e-5)
        assert result.prompt_tokens == (9, 9, 6)[index % 3]
    idle = asyncio.run(minilm.stats())
    assert (idle.running, idle.waiting) == (0, 0)
