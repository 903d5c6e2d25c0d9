"""The ``auto`` readers shared by the engines: the Hermes format and the fallback for
bare call objects (vLLM's own parsers behind the fallback: tests/vllm)."""

import json

import pytest

from serving.auto_calls import HermesCalls, hermes_output
from serving.tool_output import choice_delta

HERMES = (
    'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n'
    "</tool_call>"
)


NAMES = ("get_weather", "get_time")


@pytest.mark.parametrize(
    "answer",
    [
        '{"name": "get_weather", "arguments": {"city": "Oslo"}}',
        '  ```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```',
        '{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```',  # a closing fence only
    ],
)
def test_hermes_takes_a_bare_or_fenced_call_object_small_models_send(answer: str) -> None:
    output = hermes_output(NAMES)
    assert output.feed(answer[:9]) == ("", ()) and output.feed(answer[9:]) == ("", ())
    content, (call,) = output.finish()
    assert content == "" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Oslo"}


def test_hermes_json_that_is_no_call_to_a_known_tool_is_content() -> None:
    for answer in ('{"name": "rm_rf", "arguments": {}}', '{"colours": ["red"]}'):
        output = hermes_output(NAMES)
        assert output.feed(answer) == ("", ())
        assert output.finish() == (answer, ()) and not output.called


def test_hermes_calls_stream_content_then_each_call_when_it_closes() -> None:
    # Any split point gives the same content and calls: tags cut across pieces too.
    for cut in range(len(HERMES) + 1):
        output = HermesCalls(NAMES)
        first, second, end = output.feed(HERMES[:cut]), output.feed(HERMES[cut:]), output.finish()
        content = first[0] + second[0] + end[0]
        calls = first[1] + second[1] + end[1]
        assert content == "Let me check. ", cut
        assert [(c.index, c.name) for c in calls] == [(0, "get_weather")]
        assert json.loads(calls[0].arguments) == {"city": "Oslo"} and output.called


def test_hermes_two_calls_and_text_that_only_looks_like_one() -> None:
    output = HermesCalls(NAMES)
    text = (
        '<tool_call>{"name": "get_time"}</tool_call><tool_call>{"name": "get_weather", '
        '"arguments": {"city": "Rome"}}</tool_call><tool_call>not json</tool_call> bye'
    )
    content, calls = output.feed(text)
    assert [(c.index, c.name, json.loads(c.arguments)) for c in calls] == [
        (0, "get_time", {}), (1, "get_weather", {"city": "Rome"})]  # fmt: skip
    assert content == "<tool_call>not json</tool_call> bye"
    output = HermesCalls(NAMES)
    assert output.feed("a <tool_call>{unclosed") == ("a ", ())
    assert output.finish() == ("<tool_call>{unclosed", ()) and not output.called


def test_a_choice_that_called_finishes_with_tool_calls() -> None:
    output = HermesCalls(NAMES)
    delta = choice_delta(output, 0, HERMES, "stop")
    assert delta.finish_reason == "tool_calls" and delta.text == "Let me check. "
    assert choice_delta(HermesCalls(NAMES), 1, "plain", "stop").finish_reason == "stop"


def test_a_bare_opening_that_is_no_call_still_reaches_the_format_reader() -> None:
    """Held to the end, then read as if it had streamed: a tagged call after JSON text."""
    output = hermes_output(NAMES)
    text = '{"note": 1} <tool_call>{"name": "get_time"}</tool_call>'
    assert output.feed(text[:20]) == ("", ()) and output.feed(text[20:]) == ("", ())
    content, (call,) = output.finish()
    assert content == '{"note": 1} ' and call.name == "get_time" and output.called


def test_text_that_opens_plainly_streams_through_at_once() -> None:
    output = hermes_output(NAMES)
    assert output.feed("  ") == ("", ())  # nothing visible yet: undecided
    assert output.feed("Sunny") == ("  Sunny", ())
    assert output.feed(" {today}") == (" {today}", ()) and output.finish() == ("", ())
