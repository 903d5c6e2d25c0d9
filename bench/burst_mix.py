"""The request mix of ``bench.burst``: four prompts x four answer budgets, sent as streamed
chat requests with Poisson arrivals, and what each one's outcome was."""

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from harness.fake_provider.config import FakeConfig
from harness.fake_provider.reply import Reply

PROMPTS = (
    "Say hello.",
    "Name three colours.",
    "Tell a short story about a lighthouse keeper and a storm at sea, number {i}.",
    "Explain, step by step and with an example, how a hash table handles collisions. {i}",
)
BUDGETS = (8, 16, 32, 64)


@dataclass(frozen=True)
class Ask:
    """One kind of request in the mix: a prompt (of ``PROMPTS``) and an answer budget."""

    prompt: int
    budget: int

    @staticmethod
    def draw(rng: random.Random) -> "Ask":
        return Ask(rng.randrange(len(PROMPTS)), rng.choice(BUDGETS))

    def body(self, i: int) -> dict[str, Any]:
        content = PROMPTS[self.prompt].format(i=i)
        return {"model": "auto", "max_tokens": self.budget, "stream": True,
                "stream_options": {"include_usage": True}, "temperature": 0,
                "messages": [{"role": "user", "content": content}]}  # fmt: skip


ASKS = tuple(Ask(p, b) for p in range(len(PROMPTS)) for b in BUDGETS)


@dataclass
class Outcome:
    arrival_s: float  # from the phase's start
    ask: Ask
    status: int
    ttft_s: float
    served_by: str | None
    completion_tokens: int
    overflow: str | None  # why the local model was skipped (x-switchboard-overflow)
    provider_tokens: int  # what the provider answers (or answered) it with


async def one(
    session: aiohttp.ClientSession, url: str, ask: Ask, i: int, arrival_s: float
) -> Outcome:
    body = ask.body(i)
    provider_tokens = Reply(FakeConfig(), body, chat=True).usage()["completion_tokens"]
    started = time.perf_counter()
    headers = {"x-switchboard-quality": "0"}  # SmolLM2 first: the provider only by overflow
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as reply:
        ttft, tokens = 0.0, 0
        async for line in reply.content:
            if not line.startswith(b"data: {"):
                continue
            ttft = ttft or time.perf_counter() - started
            usage = json.loads(line[6:]).get("usage")
            if usage:
                tokens = usage["completion_tokens"]
        served_by = reply.headers.get("x-switchboard-model")
        overflow = reply.headers.get("x-switchboard-overflow")
        return Outcome(
            arrival_s, ask, reply.status, ttft, served_by, tokens, overflow, provider_tokens
        )


async def open_loop(url: str, rate: float, seconds: float, seed: int) -> list[Outcome]:
    rng = random.Random(seed)
    pending: list[asyncio.Task[Outcome]] = []
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        while (now := time.monotonic()) < started + seconds:
            ask, i = Ask.draw(rng), len(pending)
            pending.append(asyncio.create_task(one(session, url, ask, i, now - started)))
            await asyncio.sleep(rng.expovariate(rate))
        return list(await asyncio.gather(*pending))
