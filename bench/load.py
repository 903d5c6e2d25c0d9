"""Shared by the benchmarks: a bounded streaming load generator, latency percentiles and
machine info. Loopback targets only; every loop is bounded by its request count."""

import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import ray
import torch
import transformers

PROMPT = "Count from 1 to 200, separated by spaces."


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


async def run_load(
    target: str, one: Callable[[], Awaitable[Sample]], concurrency: int, per_client: int
) -> LoadResult:
    async def client() -> list[Sample]:
        return [await one() for _ in range(per_client)]

    started = time.perf_counter()
    samples = [
        s for batch in await asyncio.gather(*(client() for _ in range(concurrency))) for s in batch
    ]
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
