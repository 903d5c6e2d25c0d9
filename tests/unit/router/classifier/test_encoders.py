"""The static prompt encoder (the default): the unit mean of the token embeddings, then
the prompt's shape features."""

import numpy as np
import pytest

from router.classifier.encoders import PromptEncoder, load_encoder
from router.classifier.prompt_shape import FEATURES, shape_features

EMBEDDING = 384  # all-MiniLM-L6-v2's hidden size


def test_static_vectors_are_a_unit_direction_then_the_shape(encoder: PromptEncoder) -> None:
    assert encoder.name == "static"
    assert encoder.dimensions == EMBEDDING + len(FEATURES)
    texts = ["Hello there.", "Hello there. " * 50]
    short, long = encoder.embed(texts)
    assert len(short) == encoder.dimensions
    assert np.linalg.norm(short[:EMBEDDING]) == pytest.approx(1.0, abs=1e-5)
    # The same words in the same proportions: the same direction, a different shape.
    np.testing.assert_allclose(short[:EMBEDDING], long[:EMBEDDING], atol=0.05)
    np.testing.assert_array_equal(short[EMBEDDING:], shape_features(texts[0], len(texts[0])))
    np.testing.assert_array_equal(long[EMBEDDING:], shape_features(texts[1], len(texts[1])))


def test_static_embedding_is_per_text(encoder: PromptEncoder) -> None:
    texts = ["What is the capital of Peru?", "def add(x, y): return x + y"]
    together = encoder.embed(texts)
    np.testing.assert_array_equal(together[1], encoder.embed(texts[1:])[0])
    assert not np.allclose(together[0, :EMBEDDING], together[1, :EMBEDDING], atol=0.05)


def test_static_handles_empty_and_huge_texts(encoder: PromptEncoder) -> None:
    empty, huge = encoder.embed(["", "word " * 40_000])
    np.testing.assert_array_equal(empty[:EMBEDDING], np.zeros(EMBEDDING, dtype=np.float32))
    np.testing.assert_array_equal(empty[EMBEDDING:], shape_features("", 0))
    assert np.isfinite(huge).all()
    assert np.linalg.norm(huge[:EMBEDDING]) == pytest.approx(1.0, abs=1e-5)


def test_a_long_prompt_is_read_at_its_ends_but_counted_whole(encoder: PromptEncoder) -> None:
    head, tail = "Translate into French: " * 100, " Answer in one word." * 100
    middle = "1 + 2 = 3; " * 2000  # arithmetic the encoder never reads
    long, ends = encoder.embed([head + middle + tail, head + tail])
    np.testing.assert_allclose(long[:EMBEDDING], ends[:EMBEDDING], atol=1e-6)
    log_chars = FEATURES.index("log_chars")
    assert long[EMBEDDING + log_chars] > ends[EMBEDDING + log_chars]
    assert long[EMBEDDING + FEATURES.index("arithmetic")] == 0.0


def test_the_shape_encoder_is_the_shape_features_alone() -> None:
    shape = load_encoder("shape")
    text = "What is 6 x 7? (A) 42 (B) 41"
    np.testing.assert_array_equal(shape.embed([text])[0], shape_features(text, len(text)))


def test_unknown_encoder() -> None:
    with pytest.raises(ValueError, match="unknown prompt encoder 'tfidf'"):
        load_encoder("tfidf")
