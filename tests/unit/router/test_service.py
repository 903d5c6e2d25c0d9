"""The request service's decision step: a short prompt is decided on the event loop (a
hop to a thread would cost more than the decision), a long one, or one with tools, in
the decisions' own threads, so the event loop never waits behind a long token count."""

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from router.service import INLINE_DECISION_CHARS
from serving.engine import Engine
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api
from tests.unit.router.http.test_api import SMOL, call

pytestmark = pytest.mark.slow


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {}}}


async def test_only_a_long_prompt_or_tools_go_to_a_thread(smol_engine: TransformersEngine) -> None:
    engines: dict[str, Engine] = {SMOL: smol_engine}
    ctx = context(engines)
    decisions = CountingExecutor()
    ctx = dataclasses.replace(ctx, service=dataclasses.replace(ctx.service, decisions=decisions))
    short = "Name a colour."
    long = "word " * (INLINE_DECISION_CHARS // 5 + 1)
    with serve_api(ctx) as url:
        # SmolLM2 here takes no tools: the decision that refuses them ran in a thread.
        cases = ((short, None, 200, 0), (long, None, 200, 1), (short, [TOOL], 400, 2))
        for text, tools, expected, submitted in cases:
            body = {"model": SMOL, "max_tokens": 1,
                    "messages": [{"role": "user", "content": text}]}  # fmt: skip
            if tools:
                body["tools"] = tools
            status, _, raw = await call("POST", f"{url}/v1/chat/completions", body, key=None)
            assert status == expected, raw
            assert decisions.submitted == submitted
    decisions.shutdown()
