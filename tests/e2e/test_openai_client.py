"""End to end: `switchboard serve` as a process, driven by the official openai client."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest

from harness.configs import embedding_model_raw, smol_only_raw, write_config
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "sk-e2e-test-key"
SMOL = "smollm2-135m"
MINILM = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwitchboardProcess]:
    raw = smol_only_raw()
    raw["models"].append(embedding_model_raw())
    config = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    process = SwitchboardProcess(config, free_port(), env={"SWITCHBOARD_API_KEYS": KEY})
    process.start()
    yield process
    assert process.stop() == 0, "\n".join(process.output)  # Ctrl-C shuts down cleanly


@pytest.fixture(scope="module")
def client(server: SwitchboardProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=KEY, max_retries=0)


def ask(client: openai.OpenAI, text: str, **fields: Any) -> Any:
    fields = {"model": "auto", "temperature": 0, **fields}
    return client.chat.completions.create(messages=[{"role": "user", "content": text}], **fields)


def test_list_and_get_models(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == [SMOL, MINILM, "auto", "auto-economy", "auto-quality"]
    assert client.models.retrieve(SMOL).id == SMOL


def test_chat_with_usage_and_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "What is 2+2?"}],
        max_tokens=16,
        temperature=0,
    )
    assert raw.headers["x-switchboard-model"] == SMOL
    # One local model and no provider: the filters leave one candidate.
    assert raw.headers["x-switchboard-route"] == "only-candidate"
    assert float(raw.headers["x-switchboard-decision-ms"]) > 0
    reply = raw.parse()
    assert reply.model == SMOL
    assert reply.choices[0].message.content
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 16
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_max_tokens_cuts_with_length(client: openai.OpenAI) -> None:
    reply = ask(client, "Write a long poem about the sea.", max_tokens=5)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5


def test_stop_sequence(client: openai.OpenAI) -> None:
    reply = ask(
        client, "List the numbers from 1 to 10 separated by commas.", max_tokens=40, stop=[","]
    )
    assert "," not in (reply.choices[0].message.content or "")
    assert reply.choices[0].finish_reason == "stop"


def test_n_choices(client: openai.OpenAI) -> None:
    reply = ask(client, "Say a fruit.", max_tokens=6, n=2, temperature=1.0, seed=3)
    assert sorted(choice.index for choice in reply.choices) == [0, 1]


def test_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": "Count from one to five."}],
        max_tokens=20,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert len([c for c in chunks if c.choices]) > 2  # streamed, not one buffered blob
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens <= 20


def test_text_completion(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model=SMOL, prompt="The capital of France is", max_tokens=4, temperature=0
    )
    assert reply.choices[0].text and reply.usage is not None


def test_embeddings_through_the_embedding_deployment(client: openai.OpenAI) -> None:
    texts = ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell."]
    reply = client.embeddings.create(model=MINILM, input=texts)  # base64, the default
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (3, 384) and reply.model == MINILM
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors @ vectors.T)[0, 1] > 0.5 > 0.2 > (vectors @ vectors.T)[0, 2]
    assert reply.usage.prompt_tokens == 24
    with pytest.raises(openai.BadRequestError, match="maximum context length is 256"):
        client.embeddings.create(model=MINILM, input="word " * 300)
    with pytest.raises(openai.BadRequestError, match="is an embedding model"):
        ask(client, "Hi", model=MINILM)


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        ask(client, "hi", model="gpt-9")  # type: ignore[arg-type]
    assert info.value.code == "model_not_found"


def post_raw(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_malformed_body_is_400(server: SwitchboardProcess) -> None:
    url = f"{server.base_url}/v1/chat/completions"
    status, body = post_raw(url, b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = post_raw(url, json.dumps({"model": "auto", "messages": "hi"}).encode())
    assert status == 400 and body["error"]["param"] == "messages"


def test_bad_key_is_401(server: SwitchboardProcess) -> None:
    bad = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        ask(bad, "hi")
    assert info.value.code == "invalid_api_key"


def test_oversized_prompt_names_the_numbers(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "hello " * 9000, max_tokens=10)
    assert info.value.code == "context_length_exceeded"
    assert "8192" in info.value.message and "10 in the completion" in info.value.message


def test_still_serving_afterwards(client: openai.OpenAI) -> None:
    reply = ask(client, "Say OK.", max_tokens=4)
    assert reply.choices[0].message.content
