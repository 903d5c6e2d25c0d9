"""The overhead benchmark's load phases against one target: warm-up, the idle CPU rate,
latency at concurrency 1, closed-loop sweeps (non-streamed and streamed) and paced streams;
each level summed up as latency, rates and CPU per request and per relayed chunk."""

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.load import closed_loop, percentile, post
from bench.overhead_cpu import CpuMeter, own_cpu_s
from bench.overhead_servers import BENCH_KEY
from harness.fake_provider.process import FakeProviderProcess

PROMPT = " ".join(f"w{i}" for i in range(64))  # the fake provider echoes a word per token
FAST_TOKENS, PACED_CLIENTS, PACED_TOKENS, PACED_TOKEN_MS = 16, 32, 50, 20.0
JSON_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {BENCH_KEY}"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    latency_s: float
    ttft_s: float = 0.0
    chunks: int = 0  # SSE data events received (content, finish and usage chunks)
    error: str = ""


@dataclass
class Level:
    scenario: str  # latency-c1 | sweep | sweep-stream | paced-stream
    target: str
    concurrency: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    wall_s: float
    per_s: float
    chunks_per_s: float
    p50_ms: float
    p99_ms: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    cpu_ms: dict[str, float]  # by role, over the level
    cpu_ms_per_request: float  # request-path roles only
    cpu_ms_per_chunk: float | None  # None: not streamed
    net_cpu_ms_per_request: float  # minus the idle rate x wall time
    net_cpu_ms_per_chunk: float | None
    tree_cpu_ms_per_request: float  # every process of the server
    client_cpu_share: float


@dataclass
class Target:
    name: str
    base_url: str
    model: str
    cpu: CpuMeter
    idle_cpu_per_s: float = 0.0  # request-path roles, before any load


async def one(session: aiohttp.ClientSession, url: str, payload: bytes, stream: bool) -> Outcome:
    """One request, judged: an HTTP error, a dropped connection, a body without choices, an
    error event or a stream cut before ``[DONE]`` each count as an error of its kind."""
    started = time.perf_counter()
    try:
        reply = await post(session, url, payload, JSON_HEADERS, stream)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Outcome(False, time.perf_counter() - started, error=type(exc).__name__)
    if reply.status != 200:
        return Outcome(False, reply.latency_s, error=str(reply.status))
    if not stream:
        ok = b'"choices"' in reply.body
        return Outcome(ok, reply.latency_s, error="" if ok else "body")
    error = "error event" if reply.error_event else "" if reply.done else "no [DONE]"
    return Outcome(not error, reply.latency_s, reply.ttft_s, reply.chunks, error)


def body(model: str, stream: bool, max_tokens: int) -> bytes:
    request: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": stream,
                               "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip
    if stream:
        request["stream_options"] = {"include_usage": True}
    return json.dumps(request).encode()


async def level(
    session: aiohttp.ClientSession, target: Target, scenario: str, concurrency: int,
    seconds: float, cap: int, max_tokens: int,
) -> Level:  # fmt: skip
    """Closed loop: ``concurrency`` clients, each sending the next request when its last
    one ends, until ``seconds`` have passed or ``cap`` requests were started."""
    stream = "stream" in scenario
    url, payload = f"{target.base_url}/v1/chat/completions", body(target.model, stream, max_tokens)
    cpu_before, client_before, t0 = target.cpu.read(), own_cpu_s(), time.perf_counter()
    outcomes = await closed_loop(
        lambda: one(session, url, payload, stream), concurrency, seconds=seconds, cap=cap
    )
    wall = time.perf_counter() - t0
    cpu = {r: (v - cpu_before[r]) * 1000 for r, v in target.cpu.read().items()}
    return summarize(
        target, scenario, concurrency, outcomes, wall, cpu, own_cpu_s() - client_before
    )


def summarize(
    target: Target, scenario: str, concurrency: int, outcomes: list[Outcome], wall: float,
    cpu: dict[str, float], client_cpu_s: float,
) -> Level:  # fmt: skip
    good = [o for o in outcomes if o.ok]
    n, chunks = max(1, len(good)), sum(o.chunks for o in good)
    latency = [o.latency_s * 1000 for o in good] or [0.0]
    ttft = [o.ttft_s * 1000 for o in good if o.chunks] or [0.0]
    path = sum(cpu[r] for r in target.cpu.path)
    net = max(0.0, path - target.idle_cpu_per_s * wall * 1000)
    return Level(
        scenario, target.name, concurrency, len(good), len(outcomes) - len(good),
        dict(Counter(o.error for o in outcomes if not o.ok)), round(wall, 3),
        len(good) / wall, sum(o.chunks for o in good) / wall,
        percentile(latency, 0.5), percentile(latency, 0.99),
        percentile(ttft, 0.5), percentile(ttft, 0.95),
        {r: round(v, 1) for r, v in cpu.items()}, path / n, path / chunks if chunks else None,
        net / n, net / chunks if chunks else None,
        sum(cpu.values()) / n, client_cpu_s / wall,
    )  # fmt: skip


async def measure(
    session: aiohttp.ClientSession, target: Target, fake: FakeProviderProcess,
    args: argparse.Namespace,
) -> list[Level]:  # fmt: skip
    for stream in (False, True):  # warm-up: connections, first-call paths, caches
        await level(session, target, "warm-stream" if stream else "warm", 4, 30, 40, FAST_TOKENS)
    before = target.cpu.read()
    await asyncio.sleep(args.idle_s)
    after = target.cpu.read()
    target.idle_cpu_per_s = sum(after[r] - before[r] for r in target.cpu.path) / args.idle_s
    levels = [await level(session, target, "latency-c1", 1, 60, args.latency_requests, FAST_TOKENS)]
    for scenario in ("sweep", "sweep-stream"):
        for concurrency in args.levels:
            levels.append(
                await level(session, target, scenario, concurrency, args.seconds,
                            args.cap, FAST_TOKENS)
            )  # fmt: skip
            progress(levels[-1])
    await asyncio.to_thread(fake.set_faults, token_latency_ms=PACED_TOKEN_MS)
    try:
        cap = PACED_CLIENTS * args.paced_streams
        levels.append(
            await level(session, target, "paced-stream", PACED_CLIENTS, 60, cap, PACED_TOKENS)
        )
    finally:
        await asyncio.to_thread(fake.set_faults, token_latency_ms=0)
    progress(levels[0])
    progress(levels[-1])
    return levels


def progress(lv: Level) -> None:
    print(
        f"{lv.target} {lv.scenario} c={lv.concurrency}: {lv.per_s:.1f}/s, p50 {lv.p50_ms:.2f} ms, "
        f"TTFT p50 {lv.ttft_p50_ms:.2f} ms, CPU {lv.cpu_ms_per_request:.3f} ms/req, "
        f"{fmt(lv.cpu_ms_per_chunk)} ms/chunk, errors {lv.errors} {lv.error_kinds or ''}",
        flush=True,
    )


def fmt(value: Any) -> str:
    """A value as a table cell, in the progress lines and in the report."""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)
