"""Overflow against a TTFT target vs today's queue rule, under open-loop bursts, in one run.

SmolLM2 on Ray Serve (one replica on one core: vLLM's CPU build, the default fleet's
engine, or ``--engine transformers``; batches of ``--batch``) with the fake provider
process as the overflow target (paced like a fast hosted API: 150 ms TTFT, 25 ms per
token). First, without overflow: the unloaded TTFT p95 and service times (one request at
a time), and the local capacity: requests completed per second by ``--batch`` clients
that keep the batch full. The target is twice the unloaded p95 (the issue's default).
Then each rule serves the same seeded Poisson arrivals at 0.5x, 1x and 2x the capacity
and a 3x burst, ``--phase-seconds`` each, with mixed prompts and answer budgets:
``queue``: ``max_waiting_per_replica: 0`` (overflow once no batch slot is free); ``ttft``:
``ttft_target_s`` = the target (overflow when the predicted TTFT exceeds it); ``auto``: the
router's own twice-the-unloaded-p95 (each rule's warm-up ends with 24 requests alone).
Per phase (``bench.burst_report``): TTFT p50/p95/p99, the share over target, overflowed,
external spend (the provider's tokens at its price), 429s, lost (any other non-200), and
a clairvoyant oracle's (``bench.burst_oracle``) overflow and spend on the same arrivals:
regret = spend / the oracle's - 1. Prediction error and target: from Ray's metrics.

Usage: .venv/bin/python -m bench.burst [--phase-seconds 30] [--batch 8] [--engine vllm]
Writes bench/results/burst_<date>.json and .md. Loopback only; every phase is bounded.
"""

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aiohttp

from bench.burst_mix import ASKS, Ask, Outcome, one, open_loop
from bench.burst_oracle import LocalService, OracleRequest, oracle
from bench.burst_report import Phase, RouterReadings, markdown, router_readings
from bench.load import machine, percentile
from harness.configs import smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess
from harness.ports import free_port
from harness.ray_app import running_app

RESULTS = Path(__file__).parent / "results"
PROVIDER_PACING = ("--ttft-ms", "150", "--token-latency-ms", "25")
PHASES = (("0.5x", 0.5), ("1x", 1.0), ("2x", 2.0), ("3x burst", 3.0))


@dataclass(frozen=True)
class Engine:
    name: str  # vllm or transformers
    batch: int


def config(workdir: Path, name: str, engine: Engine, saturation: dict[str, Any]) -> Path:
    """One replica on one core (core 1 stays for Ray, the router, provider and clients)."""
    if engine.name == "vllm":
        settings = {"vllm": {"dtype": "float32", "enforce_eager": True, "cpu_kv_cache_gib": 1,
                             "max_num_seqs": engine.batch, "cpu_threads_bind": "0"}}  # fmt: skip
    else:
        settings = {
            "transformers": {"dtype": "float32", "max_batch_size": engine.batch, "torch_threads": 1}
        }
    raw = smol_only_raw(
        engine=engine.name,
        deployment={"num_replicas": 1, "max_ongoing_requests": 4 * engine.batch, "num_cpus": 1},
        saturation=saturation,
        **settings,
    )  # fmt: skip
    return write_config(workdir / f"models-{name}.yaml", raw)


@dataclass(frozen=True)
class Setting:
    capacity_per_s: float
    target_s: float
    local: LocalService
    local_tokens: dict[Ask, int]  # each ask's answer length on the local model
    price: float
    phase_seconds: float


async def run_rule(rule: str, path: Path, setting: Setting) -> tuple[list[Phase], RouterReadings]:
    metrics_port = free_port()
    with running_app(path, metrics_port=metrics_port) as url:
        await open_loop(url, 0.5, 5, seed=0)  # warm-up: the predictor learns its rates
        async with aiohttp.ClientSession() as session:  # and, alone, the unloaded TTFT
            _ = [await one(session, url, ASKS[i % len(ASKS)], i, 0.0) for i in range(24)]
        phases = []
        for number, (name, multiple) in enumerate(PHASES):
            rate = setting.capacity_per_s * multiple
            outcomes = await open_loop(url, rate, setting.phase_seconds, seed=number + 1)
            phases.append(summary(rule, name, rate, outcomes, setting))
            print(json.dumps(asdict(phases[-1])), flush=True)
        await asyncio.sleep(3)  # Ray exports metrics every second here
        return phases, router_readings(metrics_port)


def summary(rule: str, name: str, rate: float, outcomes: list[Outcome], setting: Setting) -> Phase:
    answered = [o for o in outcomes if o.status == 200]
    ttfts = [o.ttft_s * 1000 for o in answered]
    external = [o for o in answered if o.served_by == "external"]
    price = setting.price
    requests = [
        OracleRequest(o.arrival_s, setting.local_tokens[o.ask], o.provider_tokens) for o in answered
    ]
    oracle_overflowed, oracle_spend = oracle(requests, setting.target_s, setting.local, price)
    return Phase(
        rule=rule,
        phase=name,
        rate_per_s=round(rate, 3),
        requests=len(outcomes),
        ttft_p50_ms=percentile(ttfts, 0.5),
        ttft_p95_ms=percentile(ttfts, 0.95),
        ttft_p99_ms=percentile(ttfts, 0.99),
        slo_misses=sum(o.ttft_s > setting.target_s for o in answered) / max(len(answered), 1),
        overflow_share=len(external) / max(len(answered), 1),
        external_spend=sum(o.completion_tokens for o in external) * price / 1e6,
        refused_429=sum(o.status == 429 for o in outcomes),
        lost=sum(o.status not in (200, 429) for o in outcomes),
        oracle_overflow_share=oracle_overflowed / max(len(answered), 1),
        oracle_spend=oracle_spend,
        overflow_reasons=dict(Counter(o.overflow.split("=")[-1] for o in external if o.overflow)),
    )


@dataclass(frozen=True)
class Baseline:
    """The local model without overflow."""

    ttft_p95_s: float  # one request at a time
    mean_request_s: float  # the same
    local: LocalService  # the same
    local_tokens: dict[Ask, int]  # each ask's answer length, from the same
    capacity_per_s: float  # requests completed per second with the batch kept full


async def baseline(path: Path, batch: int, seconds: float) -> Baseline:
    """Each ask once, one at a time (their answer lengths are the oracle's: the
    answers are greedy, so the same each time), then ``batch`` clients each sending its
    next request when the last ends, for ``seconds``."""
    with running_app(path) as url:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            alone = [await timed(session, url, ask, i) for i, ask in enumerate(ASKS)]
            full = await full_batch(session, url, batch, seconds)
        local = LocalService(
            batch, percentile([o.ttft_s for o, _ in alone], 0.5), _per_token(alone),
            percentile([o.ttft_s for o, _ in full], 0.5), _per_token(full),
        )  # fmt: skip
        mean_s = sum(d for _, d in alone) / len(alone)
        ttft_p95 = percentile([o.ttft_s for o, _ in alone], 0.95)
        tokens = {o.ask: o.completion_tokens for o, _ in alone}
        return Baseline(ttft_p95, mean_s, local, tokens, len(full) / seconds)


async def timed(
    session: aiohttp.ClientSession, url: str, ask: Ask, i: int
) -> tuple[Outcome, float]:
    """One request and how long it took."""
    started = time.perf_counter()
    outcome = await one(session, url, ask, i, 0.0)
    return outcome, time.perf_counter() - started


def _per_token(done: list[tuple[Outcome, float]]) -> float:
    """Mean seconds per output token after the first."""
    rates = [(d - o.ttft_s) / (o.completion_tokens - 1) for o, d in done if o.completion_tokens > 1]
    return sum(rates) / len(rates)


async def full_batch(
    session: aiohttp.ClientSession, url: str, clients: int, seconds: float
) -> list[tuple[Outcome, float]]:
    """The answered requests of ``clients`` closed-loop clients that started within
    ``seconds`` (each ends its last one: bounded)."""
    deadline, done = time.monotonic() + seconds, []

    async def client(c: int) -> None:
        rng, i = random.Random(1000 + c), c
        while time.monotonic() < deadline:
            outcome, duration = await timed(session, url, Ask.draw(rng), i)
            if outcome.status == 200:
                done.append((outcome, duration))
            i += clients

    await asyncio.gather(*(client(c) for c in range(clients)))
    return done


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=float, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--engine", choices=("vllm", "transformers"), default="vllm")
    parser.add_argument("--capacity-seconds", type=float, default=30)
    args = parser.parse_args()
    engine = Engine(args.engine, args.batch)
    info = machine()
    print(json.dumps(info), flush=True)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"burst-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    price = smol_only_raw()["external_providers"][0]["cost"]["output_per_mtok"]
    base = await baseline(
        config(workdir, "baseline", engine, {}), args.batch, args.capacity_seconds
    )
    target, capacity = 2 * base.ttft_p95_s, base.capacity_per_s
    setting = Setting(capacity, target, base.local, base.local_tokens, price, args.phase_seconds)
    rules: dict[str, dict[str, Any]] = {
        "queue": {"max_waiting_per_replica": 0},
        "ttft": {"max_waiting_per_replica": 0, "ttft_target_s": round(target, 3)},
        "auto": {"max_waiting_per_replica": 0, "ttft_target_s": "auto"},
    }
    phases: list[Phase] = []
    errors: dict[str, str] = {}
    targets: dict[str, str] = {}
    with FakeProviderProcess(*PROVIDER_PACING) as fake:
        env = {"SWITCHBOARD_EXTERNAL_BASE_URL": fake.base_url,
               "SWITCHBOARD_EXTERNAL_MODEL": "fake-model",
               "RAY_metrics_report_interval_ms": "1000"}  # fmt: skip
        with patch.dict(os.environ, env):
            for rule, saturation in rules.items():
                done, read = await run_rule(
                    rule, config(workdir, rule, engine, saturation), setting
                )
                phases += done
                error, target_s = read.median_prediction_error, read.ttft_target_s
                errors[rule] = "n/a" if error is None else f"{error:.0%}"
                targets[rule] = "none" if target_s is None else f"{target_s * 1000:.0f} ms"
    facts = {
        "command": f"python -m bench.burst --phase-seconds {args.phase_seconds:g} "
        f"--batch {args.batch} --engine {args.engine} "
        f"--capacity-seconds {args.capacity_seconds:g}",
        "engine": args.engine,
        "unloaded_ttft_p95_s": base.ttft_p95_s,
        "mean_request_s": base.mean_request_s,
        "target_s": target,
        "capacity_per_s": capacity,
        "batch": args.batch,
        "oracle_service": asdict(base.local),
        "median_prediction_error": errors,
        "router_ttft_target": targets,
    }
    report = markdown(info, facts, phases)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"burst_{datetime.now(UTC):%Y%m%d}"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(
        json.dumps({"machine": info, **facts, "phases": [asdict(p) for p in phases]}, indent=2)
    )


if __name__ == "__main__":
    asyncio.run(main())
