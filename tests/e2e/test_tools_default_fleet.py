"""Tool calls and JSON output on the fleet `make serve` starts (models.yaml as shipped:
both models that generate on vLLM's CPU build, and its embedding model), and on the same
fleet with `--engine transformers` (what `make serve ENGINE=transformers` starts), end to
end through `switchboard serve` with the official openai client: parsed calls are checked
against their schemas; the embedding model embeds.

Qwen2.5-Coder-0.5B rarely calls a tool on its own under `tool_choice: auto`; the auto
test gives it a system message that tells it to (and the README says so)."""

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest

from harness.configs import MODELS_YAML
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KEY = "sk-tools-e2e"
SMOL, QWEN = "smollm2-135m", "qwen2.5-coder-0.5b"
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "function": {"name": "get_weather",
           "description": "The current weather in a city", "parameters": CITY}}  # fmt: skip
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(
    scope="module",
    params=[pytest.param(None, marks=pytest.mark.vllm, id="vllm"), "transformers"],
)
def client(request: pytest.FixtureRequest) -> Iterator[openai.OpenAI]:
    engine = ("--engine", request.param) if request.param else ()
    env = {"SWITCHBOARD_API_KEYS": KEY}
    server = SwitchboardProcess(MODELS_YAML, free_port(), env=env, extra_args=engine)
    server.start()
    try:
        yield openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=KEY, max_retries=0)
    finally:
        server.stop()


def the_call(reply: Any) -> tuple[str, dict[str, Any]]:
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls
    assert call.id and call.type == "function"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, CITY)
    return call.function.name, arguments


@pytest.mark.parametrize("model", ["auto", QWEN])
def test_a_named_tool_choice_is_a_valid_call(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.with_raw_response.create(
        model=model,
        messages=QUESTION,
        tools=[WEATHER],
        max_tokens=48,
        temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert reply.headers["x-switchboard-model"] == QWEN  # the only local model with tools
    assert the_call(reply.parse())[0] == "get_weather"


def test_required_is_a_valid_call(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="auto",
        messages=QUESTION,
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=64,
        temperature=0,
    )
    assert the_call(reply)[0] == "get_weather"


def test_auto_with_a_system_message_that_asks_for_calls(client: openai.OpenAI) -> None:
    system = {"role": "system", "content": "Always answer by calling a tool."}
    reply = client.chat.completions.create(
        model="auto",
        messages=[system, *QUESTION],
        tools=[WEATHER],
        tool_choice="auto",
        max_tokens=64,
        temperature=0,
    )
    name, arguments = the_call(reply)
    assert name == "get_weather" and "paris" in arguments["city"].lower()


def test_a_streamed_call_arrives_in_deltas_then_round_trips(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="auto",
        messages=QUESTION,
        tools=[WEATHER],
        max_tokens=48,
        temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    fragments, finish, call_id = [], None, None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                call_id = call_id or call.id
                fragments.append(call.function.arguments or "")
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and len(fragments) > 1  # streamed, not in one piece
    arguments = "".join(fragments)
    jsonschema.validate(json.loads(arguments), CITY)
    # The result goes back to the model, which answers in text.
    function = {"name": "get_weather", "arguments": arguments}
    call = {"id": call_id, "type": "function", "function": function}
    turn = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21, "sky": "clear"}'}
    reply = client.chat.completions.create(
        model="auto",
        messages=[*QUESTION, turn, result],
        tools=[WEATHER],
        max_tokens=32,
        temperature=0,
    )
    assert reply.choices[0].message.content


def test_a_model_without_tools_refuses_them_naming_tools(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=SMOL, messages=QUESTION, tools=[WEATHER])
    assert raised.value.param == "tools"


@pytest.mark.parametrize("model", ["auto", SMOL, QWEN])
def test_json_schema_output_is_valid(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Name a city."}],
        max_tokens=48,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY}},
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), CITY)


def test_the_fleets_embedding_model_embeds(client: openai.OpenAI) -> None:
    """The embedding model the default fleet ships, beside the two that generate."""
    reply = client.embeddings.create(model="all-minilm-l6-v2", input=["a cat", "a kitten"])
    assert [len(d.embedding) for d in reply.data] == [384, 384]
    assert reply.usage.prompt_tokens == 8
