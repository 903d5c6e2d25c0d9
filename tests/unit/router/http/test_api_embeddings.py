"""``/v1/embeddings`` on the live HTTP API (no Ray), through the official openai client:
the default fleet's all-MiniLM-L6-v2 beside SmolLM2, named keys with policies, and the
router's metrics in a registry of their own."""

from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
from prometheus_client import CollectorRegistry

from harness.configs import embedding_model_raw, smol_only_raw
from router.config_loader import parse_config
from router.metrics.instruments import PrometheusInstruments
from serving.engine import Engine
from serving.transformers_embedder import TransformersEmbedder
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api
from tests.unit.router.http.test_api import SMOL

pytestmark = pytest.mark.slow
MINILM = "all-minilm-l6-v2"
OPEN, CHAT_ONLY, FRUGAL = "sk-open-emb", "sk-chat-only", "sk-frugal"
TEXTS = ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell."]


@pytest.fixture(scope="module")
def served(
    smol_engine: TransformersEngine, minilm: TransformersEmbedder
) -> Iterator[tuple[str, CollectorRegistry]]:
    raw = smol_only_raw()
    raw["models"].append(embedding_model_raw())
    raw["auth"]["keys"] = {
        "chat-only": {"allowed_models": [SMOL]},
        "frugal": {"tokens_per_minute": 30},
    }
    registry = CollectorRegistry()
    engines: dict[str, Engine] = {SMOL: smol_engine}
    keys = (f"open:{OPEN}", f"chat-only:{CHAT_ONLY}", f"frugal:{FRUGAL}")
    ctx = context(
        engines,
        keys=keys,
        config=parse_config(raw),
        instruments=PrometheusInstruments(registry),
        embedders={MINILM: minilm},
    )
    with serve_api(ctx) as url:
        yield url, registry


def client(served: tuple[str, CollectorRegistry], key: str = OPEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served[0]}/v1", api_key=key, max_retries=0)


def test_the_official_client_gets_vectors_in_order_either_encoding(
    served: tuple[str, CollectorRegistry],
) -> None:
    api = client(served)
    raw = api.embeddings.with_raw_response.create(model=MINILM, input=TEXTS)  # base64
    assert raw.headers["x-switchboard-model"] == MINILM
    assert raw.headers["x-switchboard-route"] == "pinned"
    reply = raw.parse()
    assert reply.model == MINILM and [d.index for d in reply.data] == [0, 1, 2]
    assert reply.usage.prompt_tokens == reply.usage.total_tokens == 9 + 9 + 6
    vectors = np.array([d.embedding for d in reply.data])
    floats = api.embeddings.create(model=MINILM, input=TEXTS, encoding_format="float")
    assert np.allclose(vectors, np.array([d.embedding for d in floats.data]), atol=1e-7)
    alone = api.embeddings.create(model=MINILM, input=TEXTS[1]).data[0].embedding
    assert np.allclose(vectors[1], alone, atol=1e-5)
    assert vectors.shape == (3, 384) and (vectors @ vectors.T)[0, 1] > 0.5


def test_token_ids_in_either_shape(served: tuple[str, CollectorRegistry]) -> None:
    api = client(served)
    ids = [101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102]  # TEXTS[0], as MiniLM reads it
    one = api.embeddings.create(model=MINILM, input=ids).data
    many = api.embeddings.create(model=MINILM, input=[ids, ids[:3]]).data
    text = api.embeddings.create(model=MINILM, input=TEXTS[0]).data
    assert len(one) == 1 and len(many) == 2
    assert np.allclose(one[0].embedding, text[0].embedding, atol=1e-6)
    assert np.allclose(many[0].embedding, text[0].embedding, atol=1e-6)


@pytest.mark.parametrize(
    ("fields", "status", "param", "words"),
    [
        ({"model": SMOL, "input": "x"}, 400, "model", "not embeddings"),
        ({"model": "auto", "input": "x"}, 400, "model", "not embeddings"),
        ({"model": "gpt-9", "input": "x"}, 404, "model", "does not exist"),
        ({"model": MINILM, "input": "word " * 300}, 400, "input", "maximum context length is 256"),
        ({"model": MINILM, "input": [[101, 99999]]}, 400, "input", "outside this model's"),
        ({"model": MINILM, "input": "x", "dimensions": 8}, 400, "dimensions", "384 dimensions"),
        ({"model": MINILM, "input": []}, 400, "input", ""),
        ({"model": MINILM, "input": ""}, 400, "input", ""),
        ({"model": MINILM, "input": ["x"] * 2049}, 400, "input", ""),
        ({"model": MINILM, "input": "x", "truncate": True}, 400, "truncate", "not permitted"),
        ({"model": MINILM, "input": "x", "encoding_format": "int8"}, 400, "encoding_format", ""),
    ],
)
def test_what_cannot_be_embedded_is_a_named_openai_error(
    served: tuple[str, CollectorRegistry],
    fields: dict[str, Any],
    status: int,
    param: str,
    words: str,
) -> None:
    model, rest = fields.pop("model"), fields
    with pytest.raises(openai.APIStatusError) as refused:
        client(served).embeddings.create(model=model, input=rest.pop("input"), extra_body=rest)
    assert refused.value.status_code == status
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == param and words in error["message"]


def test_a_chat_request_naming_the_embedding_model_is_a_400(
    served: tuple[str, CollectorRegistry],
) -> None:
    with pytest.raises(openai.BadRequestError, match="is an embedding model"):
        client(served).chat.completions.create(
            model=MINILM, messages=[{"role": "user", "content": "Hi"}]
        )


def test_key_policies_hold_for_embeddings(served: tuple[str, CollectorRegistry]) -> None:
    listed = [m.id for m in client(served).models.list()]
    assert MINILM in listed and listed.index(MINILM) < listed.index("auto")
    assert MINILM not in [m.id for m in client(served, CHAT_ONLY).models.list()]
    with pytest.raises(openai.PermissionDeniedError):
        client(served, CHAT_ONLY).embeddings.create(model=MINILM, input="x")


def test_a_keys_tokens_are_counted_and_limited(served: tuple[str, CollectorRegistry]) -> None:
    _, registry = served
    frugal = client(served, FRUGAL)
    assert frugal.embeddings.create(model=MINILM, input=TEXTS[:2]).usage.total_tokens == 18
    with pytest.raises(openai.RateLimitError) as limited:  # 18 of its 30 a minute are gone
        frugal.embeddings.create(model=MINILM, input=TEXTS)
    assert int(limited.value.response.headers["retry-after"]) > 0
    labels = {"key": "frugal", "kind": "prompt"}
    assert registry.get_sample_value("switchboard_key_tokens_total", labels) == 18
    assert registry.get_sample_value("switchboard_key_requests_total", {"key": "frugal"}) == 1
    tokens = registry.get_sample_value("switchboard_prompt_tokens_total", {"model": MINILM})
    assert tokens is not None and tokens >= 18
