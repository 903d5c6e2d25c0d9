"""Property-based fuzzing of the HTTP API from its own OpenAPI document, with hostile
mutations on top of schemathesis' bodies: lone surrogates, deep nesting, huge numbers and
huge arrays. Used against an in-process server (``tests/unit/router/http/test_api_fuzz.py``)
and through ``switchboard serve`` (``tests/e2e/test_fuzz_serve.py``); no response may be
a 5xx, and every error must be an OpenAI error object.

Half of the generated bodies get a real model name, so valid ones reach the engine
instead of stopping at the 404 for a random model name. (schemathesis' strategies are
driven by hypothesis directly: its lazy pytest loader does not work with pytest 9.)
"""

import itertools
import json
from collections import Counter
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case

MUTATIONS = ("none", "surrogate", "deep", "huge_number", "huge_array")


def fuzz(url: str, examples_per_operation: int, api_key: str | None = None) -> Counter[str]:
    """Statuses by ``"<status>"``, and mutations by ``"mutation:<name>"``."""
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=headers)
    seen: Counter[str] = Counter()
    flip = itertools.count()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "POST":
            continue

        @given(case=operation.as_strategy(), data=st.data())
        @settings(
            max_examples=examples_per_operation,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Case, data: st.DataObject) -> None:
            body = case.body
            if isinstance(body, dict) and "model" in body and next(flip) % 2:
                body["model"] = "auto"
            mutation = data.draw(st.sampled_from(MUTATIONS))
            text = _mutated(body, mutation, data)
            reply = requests.post(f"{url}{case.path}", data=text.encode(), headers=headers,
                                  timeout=120)  # fmt: skip
            seen[str(reply.status_code)] += 1
            seen[f"mutation:{mutation}"] += 1
            assert reply.status_code < 500, (text[:500], reply.text[:500])
            if reply.status_code >= 400:
                assert set(reply.json()["error"]) == {"message", "type", "param", "code"}

        check()
    return seen


def _mutated(body: Any, mutation: str, data: st.DataObject) -> str:
    """The JSON text of ``body`` with one hostile change (``json.dumps`` writes a lone
    surrogate as its ``\\udXXX`` escape, as a hostile client would send it)."""
    if not isinstance(body, dict) or mutation == "none":
        return json.dumps(body)
    if mutation == "surrogate":
        surrogate = chr(data.draw(st.integers(0xD800, 0xDFFF)))
        return json.dumps(_replace_a_string(body, lambda s: s + surrogate, data))
    if mutation == "huge_number":
        number = data.draw(st.sampled_from(["1e400", "-1e400", "9" * 400, "1e-400", "-0"]))
        field = data.draw(st.sampled_from(["max_tokens", "temperature", "n", "seed", "top_p"]))
        return json.dumps(body)[:-1] + f', "{field}": {number}' + "}" if body else "{}"
    if mutation == "huge_array":
        size = data.draw(st.sampled_from([1_000, 10_000, 50_000]))
        field = data.draw(st.sampled_from(["stop", "messages", "tools", "prompt", "extra"]))
        return json.dumps({**body, field: ["x"] * size})
    depth = data.draw(st.sampled_from([150, 199, 201, 700, 5_000, 20_000]))
    field = data.draw(st.sampled_from(["extra", "metadata", "tools", "response_format"]))
    nested = "[" * depth + "]" * depth
    return json.dumps(body)[:-1] + f', "{field}": {nested}' + "}" if body else nested


def _replace_a_string(value: Any, change: Any, data: st.DataObject) -> Any:
    """``value`` with one string (a key or a leaf, drawn) changed."""
    paths = list(_string_paths(value, ()))
    if not paths:
        return {**value, "model": change("auto")} if isinstance(value, dict) else value
    path = data.draw(st.sampled_from(paths))
    return _apply(value, path, change)


def _string_paths(value: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, ("key", key))
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))


def _apply(value: Any, path: tuple[Any, ...], change: Any) -> Any:
    if not path:
        return change(value)
    step, rest = path[0], path[1:]
    if isinstance(step, tuple):  # rename a key
        return {(change(k) if k == step[1] else k): v for k, v in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[step] = _apply(value[step], rest, change)
    return copy
