"""The engine contract: what every ``Engine`` does, written once and run against each
engine (the transformers and vLLM engines on the real SmolLM2, the external-provider
engine on the fake provider).

An engine's test module subclasses these classes under a ``Test...`` name (pytest collects
them there, with the module's markers and event-loop scope) and provides the fixtures
they use:

- ``engine``: the engine under test, ready to serve (the module's tests may share it);
- ``closed_engine`` (``ClosedEngineContract``): an engine of the same kind, closed by the
  fixture the way that engine closes;
- ``tokenizer`` (``LocalEngineContract``): the model's own Hugging Face tokenizer;

and the class attributes that differ by engine. What holds for one engine only stays in
that engine's module.
"""

import asyncio
import json
import time
from contextlib import aclosing
from typing import Any

import jsonschema
import pytest

from serving.engine import (
    ChatPrompt,
    Engine,
    EngineStats,
    GenerationRequest,
    JsonOutput,
    SamplingOptions,
    TextPrompt,
    ToolUse,
    Usage,
)
from serving.errors import (
    ContextLengthExceeded,
    EngineUnavailable,
    InvalidPrompt,
    MaxTokensTooLarge,
    UnsupportedFeature,
)
from tests.engine_run import GREEDY, chat, run, tool_calls, wait_idle

STORY = "Write a long story about a dragon."
CAPITAL = "What is the capital of France?"


class EngineContract:
    """Every engine: a local model's or an external provider's."""

    # A user message the engine answers at length: more tokens than any test here asks for.
    LONG_PROMPT = STORY
    # ``kv_cache_usage`` of an idle engine: None where it has no KV cache pool.
    IDLE_KV_CACHE_USAGE: float | None = None

    async def test_is_an_engine_and_healthy(self, engine: Engine) -> None:
        assert isinstance(engine, Engine)
        await engine.check_health()

    async def test_streams_the_answer_in_several_chunks_with_usage_last(
        self, engine: Engine
    ) -> None:
        result = await run(engine, chat(self.LONG_PROMPT))  # run: usage on the last chunk only
        assert len([chunk for chunk in result.chunks if chunk.deltas]) > 1
        assert result.chunks[0].usage is None
        assert result.chunk_times[0] < result.chunk_times[-1]
        assert result.usage.completion_tokens == GREEDY.max_tokens

    async def test_max_tokens_ends_the_choice_with_length(self, engine: Engine) -> None:
        sampling = SamplingOptions(max_tokens=5, temperature=0.0)
        result = await run(engine, chat(self.LONG_PROMPT, sampling))
        assert result.usage.completion_tokens == 5
        assert result.reasons == {0: "length"}

    async def test_n_choices_are_indexed_share_the_prompt_and_sum_their_tokens(
        self, engine: Engine
    ) -> None:
        sampling = SamplingOptions(max_tokens=8, temperature=1.0, seed=7, n=2)
        result = await run(engine, chat(self.LONG_PROMPT, sampling))
        single = await run(engine, chat(self.LONG_PROMPT, SamplingOptions(max_tokens=1)))
        assert set(result.texts) == {0, 1}
        assert result.reasons == {0: "length", 1: "length"}
        assert result.usage.prompt_tokens == single.usage.prompt_tokens  # counted once
        assert result.usage.completion_tokens == 2 * 8

    async def test_idle_stats_are_stamped_now_and_count_nothing(self, engine: Engine) -> None:
        first = await engine.stats()
        await asyncio.sleep(0.01)
        second = await engine.stats()
        assert second.timestamp > first.timestamp
        assert time.time() - second.timestamp < 1.0
        assert (second.running, second.waiting, second.kv_cache_usage) == (
            0,
            0,
            self.IDLE_KV_CACHE_USAGE,
        )

    async def test_stats_count_a_request_while_it_streams(self, engine: Engine) -> None:
        seen: list[EngineStats] = []
        request = chat(self.LONG_PROMPT, SamplingOptions(max_tokens=16, temperature=0.0))
        async with aclosing(engine.generate(request)) as stream:
            async for _chunk in stream:
                seen.append(await engine.stats())
        assert max(stats.running for stats in seen) >= 1
        await wait_idle(engine)

    async def test_a_consumer_that_stops_reading_frees_its_request(self, engine: Engine) -> None:
        sampling = SamplingOptions(max_tokens=200, temperature=0.0)
        async for _chunk in engine.generate(chat(self.LONG_PROMPT, sampling)):
            break  # no aclose: the abandoned stream is closed when it is collected
        await wait_idle(engine)


class ClosedEngineContract:
    """Every engine, once closed. Apart from ``EngineContract`` so that a module sharing
    one engine between its tests can close it in its last test."""

    async def test_a_closed_engine_is_unavailable(self, closed_engine: Engine) -> None:
        with pytest.raises(EngineUnavailable):
            await closed_engine.check_health()
        with pytest.raises(EngineUnavailable):
            await run(closed_engine, chat(CAPITAL))


PERSON_AGE = {
    "type": "object",
    "properties": {"age": {"type": "integer"}},
    "required": ["age"],
    "additionalProperties": False,
}
CITY = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
        "required": ["city"], "additionalProperties": False}  # fmt: skip
TOOLS: tuple[dict[str, Any], ...] = (
    {"type": "function", "function": {"name": "get_weather", "parameters": CITY}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
     "properties": {}, "additionalProperties": False}}},
)  # fmt: skip
PARAMETERS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}


class LocalEngineContract(EngineContract):
    """Every engine that runs a model here (on the real SmolLM2): exact token counts, the
    context window and output limits, sampling, constrained JSON and tool calls."""

    CONTEXT_WINDOW: int
    MAX_OUTPUT_TOKENS: int

    async def test_chat_is_templated_and_usage_is_exact(
        self, engine: Engine, tokenizer: Any
    ) -> None:
        messages = ({"role": "user", "content": CAPITAL},)
        result = await run(engine, GenerationRequest("r", ChatPrompt(messages), GREEDY))
        template_ids = tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
        )
        assert "Paris" in result.texts[0]
        assert result.reasons[0] == "stop"  # the model ends its short answer with EOS
        assert result.usage.prompt_tokens == len(template_ids)
        # EOS is generated and counted, but its text is not emitted.
        emitted = tokenizer(result.texts[0], add_special_tokens=False)["input_ids"]
        assert result.usage.completion_tokens == len(emitted) + 1

    async def test_text_prompt_is_tokenized_without_template(
        self, engine: Engine, tokenizer: Any
    ) -> None:
        text = "The quick brown fox"
        request = GenerationRequest("r", TextPrompt(text), SamplingOptions(max_tokens=4))
        result = await run(engine, request)
        assert result.usage == Usage(len(tokenizer(text)["input_ids"]), 4)

    async def test_stop_string_ends_the_choice_and_is_not_emitted(self, engine: Engine) -> None:
        sampling = SamplingOptions(max_tokens=24, temperature=0.0)
        full = (await run(engine, chat(STORY, sampling))).texts[0]
        stop = full.split()[4]  # a word from the middle of the greedy answer
        stopped = await run(engine, chat(STORY, SamplingOptions(24, 0.0, stop=(stop,))))
        assert stopped.texts[0] == full[: full.index(stop)]
        assert stopped.texts[0] and stop not in stopped.texts[0]
        assert stopped.reasons == {0: "stop"}

    async def test_greedy_n_choices_are_one_answer_repeated(self, engine: Engine) -> None:
        one = await run(engine, chat(CAPITAL))
        two = await run(engine, chat(CAPITAL, SamplingOptions(max_tokens=16, temperature=0, n=2)))
        assert two.texts == {0: one.texts[0], 1: one.texts[0]}
        assert two.usage == Usage(one.usage.prompt_tokens, 2 * one.usage.completion_tokens)

    async def test_same_seed_same_text(self, engine: Engine) -> None:
        sampling = SamplingOptions(max_tokens=12, temperature=1.0, seed=1234)
        first = await run(engine, chat(STORY, sampling))
        second = await run(engine, chat(STORY, sampling))
        assert first.texts == second.texts and first.texts[0]

    async def test_prompt_longer_than_the_window_is_refused(
        self, engine: Engine, tokenizer: Any
    ) -> None:
        text = "word " * self.CONTEXT_WINDOW
        prompt_tokens = len(tokenizer(text)["input_ids"])
        with pytest.raises(ContextLengthExceeded) as caught:
            await run(engine, GenerationRequest("r", TextPrompt(text)))
        assert caught.value.args == (prompt_tokens, None, self.CONTEXT_WINDOW)
        assert prompt_tokens > self.CONTEXT_WINDOW
        assert str(self.CONTEXT_WINDOW) in str(caught.value)
        assert str(prompt_tokens) in str(caught.value)

    async def test_prompt_plus_max_tokens_beyond_the_window_is_refused(
        self, engine: Engine, tokenizer: Any
    ) -> None:
        # The prompt fits, and max_tokens is within the model's limit: only their sum is over.
        text = "word " * (self.CONTEXT_WINDOW - self.MAX_OUTPUT_TOKENS // 2)
        prompt_tokens = len(tokenizer(text)["input_ids"])
        max_tokens = self.MAX_OUTPUT_TOKENS
        request = GenerationRequest("r", TextPrompt(text), SamplingOptions(max_tokens=max_tokens))
        with pytest.raises(ContextLengthExceeded) as caught:
            await run(engine, request)
        assert caught.value.args == (prompt_tokens, max_tokens, self.CONTEXT_WINDOW)
        assert str(prompt_tokens + max_tokens) in str(caught.value)

    async def test_max_tokens_above_the_model_limit_is_refused(self, engine: Engine) -> None:
        too_many = self.MAX_OUTPUT_TOKENS + 1
        with pytest.raises(MaxTokensTooLarge) as caught:
            await run(engine, chat("Hi", SamplingOptions(max_tokens=too_many)))
        assert caught.value.args == (too_many, self.MAX_OUTPUT_TOKENS)
        assert f"{too_many}" in str(caught.value)
        assert f"{self.MAX_OUTPUT_TOKENS}" in str(caught.value)

    @pytest.mark.parametrize(
        "messages",
        [({"role": "user"},), (), ({"role": "user", "content": None},)],
        ids=["no-content", "no-messages", "null-content"],
    )
    async def test_malformed_messages_are_an_invalid_prompt(
        self, engine: Engine, messages: Any
    ) -> None:
        with pytest.raises(InvalidPrompt):
            await run(engine, GenerationRequest("r", ChatPrompt(messages)))

    async def test_a_cancelled_task_frees_its_request(self, engine: Engine) -> None:
        sampling = SamplingOptions(max_tokens=200, temperature=0.0)
        task = asyncio.create_task(run(engine, chat(STORY, sampling)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_idle(engine)

    async def test_json_schema_output_follows_the_schema(self, engine: Engine) -> None:
        request = chat(
            "How old is a person born in 2000 in 2025? Answer in JSON.",
            SamplingOptions(max_tokens=40, temperature=0.0),
            json_output=JsonOutput(PERSON_AGE),
        )
        result = await run(engine, request)
        answer = json.loads(result.texts[0])  # complete
        jsonschema.validate(answer, PERSON_AGE)
        assert isinstance(answer["age"], int)
        assert result.reasons == {0: "stop"}

    async def test_json_object_output_is_an_object(self, engine: Engine) -> None:
        request = chat(
            "Describe a cat as a JSON object with a name and a colour.",
            SamplingOptions(max_tokens=64, temperature=0.0),
            json_output=JsonOutput(),
        )
        result = await run(engine, request)
        assert result.reasons == {0: "stop"}
        assert isinstance(json.loads(result.texts[0]), dict)

    async def test_named_tool_choice_streams_a_valid_call_to_it(self, engine: Engine) -> None:
        request = chat(
            "What is the weather in Paris?",
            SamplingOptions(max_tokens=40, seed=5),
            tool_use=ToolUse(TOOLS, "get_weather"),
        )
        result = await run(engine, request)
        [call] = tool_calls(result).values()
        assert call.name == "get_weather" and call.id
        jsonschema.validate(json.loads(call.arguments), CITY)
        assert result.reasons == {0: "tool_calls"}
        assert sum(len(d.tool_calls) for c in result.chunks for d in c.deltas) > 1  # streamed

    async def test_required_tool_choice_gives_valid_calls_and_no_text(self, engine: Engine) -> None:
        request = chat(
            "What time is it?",
            SamplingOptions(max_tokens=60, seed=5),
            tool_use=ToolUse(TOOLS, "required"),
        )
        result = await run(engine, request)
        calls = tool_calls(result)
        assert calls
        for call in calls.values():
            assert call.name in PARAMETERS and call.id
            jsonschema.validate(json.loads(call.arguments), PARAMETERS[call.name])
        assert result.reasons == {0: "tool_calls"} and result.texts.get(0, "") == ""

    async def test_auto_tool_choice_without_a_parser_is_unsupported(self, engine: Engine) -> None:
        with pytest.raises(UnsupportedFeature) as raised:
            await run(engine, chat("hi", tool_use=ToolUse(TOOLS, "auto")))
        assert raised.value.param == "tool_choice"
