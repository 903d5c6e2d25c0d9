"""Shared by the benchmarks: the HTTP load client (closed-loop clients, one request read
as a stream or whole), latency percentiles and machine info. Loopback targets only; every
loop is bounded by its request count or its duration."""

import asyncio
import json
import math
import platform
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import aiohttp
import psutil
import ray
import torch
import transformers

PROMPT = "Count from 1 to 200, separated by spaces."
T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    ttft_s: float
    total_s: float
    tokens: int


@dataclass(frozen=True)
class LoadResult:
    target: str
    concurrency: int
    requests: int
    wall_s: float
    requests_per_s: float
    output_tokens_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    e2e_p50_ms: float
    e2e_p95_ms: float
    mean_output_tokens: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def closed_loop(
    one: Callable[[], Awaitable[T]],
    clients: int,
    *,
    per_client: float = math.inf,
    seconds: float = math.inf,
    cap: float = math.inf,
) -> list[T]:
    """``clients`` clients, each sending its next request when its last one ends, until it
    sent ``per_client``, ``seconds`` have passed or ``cap`` requests were started in all
    (a request under way then is finished: bounded, not cut). Results in arrival order."""
    results: list[T] = []
    started, deadline = 0, time.perf_counter() + seconds

    async def client() -> None:
        nonlocal started
        sent = 0
        while sent < per_client and started < cap and time.perf_counter() < deadline:
            sent, started = sent + 1, started + 1
            results.append(await one())

    await asyncio.gather(*(client() for _ in range(clients)))
    return results


@dataclass(frozen=True)
class Reply:
    """One answer as the load client saw it."""

    status: int
    latency_s: float  # until the body ended
    ttft_s: float = 0.0  # until the first SSE data event; 0.0: none came
    chunks: int = 0  # SSE data events: content, finish, usage and error chunks
    error_event: bool = False  # one of those events was an error
    done: bool = False  # the stream ended with ``data: [DONE]``
    served_by: str | None = None  # Switchboard's x-switchboard-model header
    body: bytes = b""  # the whole body when not read as a stream


async def post(
    session: aiohttp.ClientSession,
    url: str,
    payload: bytes,
    headers: Mapping[str, str],
    stream: bool,
) -> Reply:
    """POST ``payload``; a 200 to a streamed request is read line by line without parsing
    (the client's CPU per event stays small next to a server's), anything else whole."""
    started = time.perf_counter()
    ttft, chunks, error_event, done = 0.0, 0, False, False
    async with session.post(url, data=payload, headers=headers) as reply:
        served_by = reply.headers.get("x-switchboard-model")
        if not stream or reply.status != 200:
            body = await reply.read()
            latency = time.perf_counter() - started
            return Reply(reply.status, latency, served_by=served_by, body=body)
        async for line in reply.content:
            if line.startswith(b"data: {"):
                ttft = ttft or time.perf_counter() - started
                chunks += 1
                error_event = error_event or line.startswith(b'data: {"error"')
            elif line.startswith(b"data: [DONE]"):
                done = True
    latency = time.perf_counter() - started
    return Reply(reply.status, latency, ttft, chunks, error_event, done, served_by)


async def run_load(
    target: str, one: Callable[[], Awaitable[Sample]], concurrency: int, per_client: int
) -> LoadResult:
    started = time.perf_counter()
    samples = await closed_loop(one, concurrency, per_client=per_client)
    wall = time.perf_counter() - started
    ttft = [s.ttft_s * 1000 for s in samples]
    e2e = [s.total_s * 1000 for s in samples]
    tokens = sum(s.tokens for s in samples)
    return LoadResult(
        target,
        concurrency,
        len(samples),
        wall,
        len(samples) / wall,
        tokens / wall,
        percentile(ttft, 0.5),
        percentile(ttft, 0.95),
        percentile(e2e, 0.5),
        percentile(e2e, 0.95),
        tokens / len(samples),
    )


def http_sample(
    session: aiohttp.ClientSession, url: str, model: str, max_tokens: int
) -> Callable[[], Awaitable[Sample]]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def one() -> Sample:
        started = time.perf_counter()
        ttft, tokens = 0.0, 0
        async with session.post(f"{url}/v1/chat/completions", json=body) as reply:
            assert reply.status == 200, await reply.text()
            async for line in reply.content:
                if not line.startswith(b"data: {"):
                    continue
                event = json.loads(line[6:])
                if not ttft and event["choices"]:
                    ttft = time.perf_counter() - started
                if event.get("usage"):
                    tokens = event["usage"]["completion_tokens"]
        return Sample(ttft, time.perf_counter() - started, tokens)

    return one


def machine() -> dict[str, str]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),
        "cores": str(psutil.cpu_count()),
        "ram_gib": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "ray": ray.__version__,
    }


def report_header(title: str, command: str, info: dict[str, str]) -> list[str]:
    """The first lines of a results file: title and time, the command, the machine."""
    return [
        f"# {title} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
    ]
