"""Serving benchmark: Switchboard end to end vs the bare engine, in one run.

1. Starts `switchboard serve` (the whole default fleet; ``--engine transformers`` serves it
   on that engine) and measures cold start to ready and the RSS of the whole process tree
   (driver, Ray, router and model replicas).
2. With 1 and 8 concurrent streaming clients (``--concurrency``) on the small model:
   requests/s, TTFT p50/p95, end-to-end p50/p95, output tokens/s.
3. Stops the server, loads the same model with the same engine and settings in-process and
   runs the same load directly against the engine's ``generate``.

Usage: .venv/bin/python -m bench.serve_bench [--engine transformers] [--max-tokens 64]
Writes bench/results/serve_<engine>_<date>.json and .md. Loopback only; loops are bounded.
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil

from bench.load import (
    PROMPT,
    LoadResult,
    Sample,
    http_sample,
    machine,
    report_header,
    run_load,
)
from harness.configs import MODELS_YAML, default_fleet_raw, write_config
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess
from router.config_loader import load_config
from serving.engine import ChatPrompt, Engine, GenerationRequest, SamplingOptions
from serving.engines import load_engine
from serving.transformers_engine import TransformersEngine
from serving.vllm_engine import VllmEngine
from serving.weights import default_models_dir, prepared_dir

MODEL = "smollm2-135m"
RESULTS = Path(__file__).parent / "results"


def engine_sample(engine: Engine, max_tokens: int) -> Callable[[], Awaitable[Sample]]:
    prompt = ChatPrompt(messages=({"role": "user", "content": PROMPT},))
    sampling = SamplingOptions(max_tokens=max_tokens, temperature=0.0)
    counter = iter(range(10**9))

    async def one() -> Sample:
        started = time.perf_counter()
        ttft, tokens = 0.0, 0
        request = GenerationRequest(f"bench-{next(counter)}", prompt, sampling)
        async for chunk in engine.generate(request):
            if not ttft and chunk.deltas:
                ttft = time.perf_counter() - started
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        return Sample(ttft, time.perf_counter() - started, tokens)

    return one


def tree_rss_mib(pid: int) -> float:
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


async def through_switchboard(
    args: argparse.Namespace,
) -> tuple[dict[str, float], list[LoadResult]]:
    engine = ("--engine", args.engine) if args.engine else ()
    server = SwitchboardProcess(fleet(args.max_ongoing), free_port(), extra_args=engine)
    server.start(timeout_s=600)
    try:
        facts = {"cold_start_to_ready_s": server.ready_after_s or 0.0}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            one = http_sample(session, server.base_url, MODEL, args.max_tokens)
            await one()  # warm-up
            results = [
                await run_load("switchboard", one, c, args.requests_per_client)
                for c in args.concurrency
            ]
        facts["process_tree_rss_mib_after_load"] = tree_rss_mib(server.pid)
    finally:
        server.stop()
    return facts, results


def fleet(max_ongoing: int | None) -> Path:
    """The default fleet; with ``max_ongoing``, the small model's replica takes that many
    requests and queues as many more, and the router lets that many wait (the fleet's
    16, 16 and 5 refuse more with a 429: the engine alone has no such limits)."""
    if max_ongoing is None:
        return MODELS_YAML
    raw = default_fleet_raw()
    [small] = [m for m in raw["models"] if m["id"] == MODEL]
    small["deployment"] |= {"max_ongoing_requests": max_ongoing, "max_queued_requests": max_ongoing}
    small["saturation"] = small.get("saturation", {}) | {"max_waiting_per_replica": max_ongoing}
    folder = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    return write_config(folder / "models.yaml", raw)


async def direct_engine(args: argparse.Namespace) -> list[LoadResult]:
    model = load_config(MODELS_YAML, engine=args.engine).local_model(MODEL)
    assert model is not None
    engine = load_engine(model, prepared_dir(model, default_models_dir()))
    assert isinstance(engine, TransformersEngine | VllmEngine)
    try:
        one = engine_sample(engine, args.max_tokens)
        await one()  # warm-up
        return [
            await run_load("engine-direct", one, c, args.requests_per_client)
            for c in args.concurrency
        ]
    finally:
        engine.close()


def markdown(
    info: dict[str, str],
    engine: str,
    facts: dict[str, float],
    results: list[LoadResult],
    command: str,
) -> str:
    lines = report_header("Serving benchmark", command, info)
    lines += [
        f"Engine: {engine}. Cold start of `switchboard serve` (default fleet, both models) "
        "to ready: "
        f"{facts['cold_start_to_ready_s']:.1f} s; RSS of the whole process tree after "
        f"the load: {facts['process_tree_rss_mib_after_load']:.0f} MiB",
        "",
        f"Model `{MODEL}`, streamed, temperature 0, prompt {PROMPT!r}.",
        "",
        "| target | clients | requests | req/s | output tok/s | TTFT p50 / p95 ms | "
        "end-to-end p50 / p95 ms | mean output tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.target} | {r.concurrency} | {r.requests} | {r.requests_per_s:.2f} | "
        f"{r.output_tokens_per_s:.1f} | {r.ttft_p50_ms:.0f} / {r.ttft_p95_ms:.0f} | "
        f"{r.e2e_p50_ms:.0f} / {r.e2e_p95_ms:.0f} | {r.mean_output_tokens:.1f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-per-client", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    # 8: the default fleet's batch. More clients than that on one model meet its queue
    # limit (max_waiting_per_replica), and the router answers 429 as designed.
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--max-ongoing",
        type=int,
        default=None,
        help="the small model's max_ongoing_requests and max_queued_requests (default: the "
        "fleet's; raise it for more streams than they admit)",
    )
    parser.add_argument(
        "--engine", choices=["transformers", "vllm"], help="default: each model's own (models.yaml)"
    )
    args = parser.parse_args()
    engine = args.engine or load_config(MODELS_YAML).local_model(MODEL).engine
    info = machine()
    print(json.dumps(info))
    facts, results = await through_switchboard(args)
    results += await direct_engine(args)
    command = (
        f"python -m bench.serve_bench --requests-per-client "
        f"{args.requests_per_client} --max-tokens {args.max_tokens} "
        f"--concurrency {' '.join(map(str, args.concurrency))}"
        + (f" --engine {args.engine}" if args.engine else "")
        + (f" --max-ongoing {args.max_ongoing}" if args.max_ongoing else "")
    )
    report = markdown(info, engine, facts, results, command)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    streams = "" if args.concurrency == [1, 8] else "_c" + "-".join(map(str, args.concurrency))
    stem = RESULTS / f"serve_{engine}{streams}_{datetime.now(UTC):%Y%m%d}"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(
        json.dumps(
            {"machine": info, "engine": engine, **facts, "results": [asdict(r) for r in results]},
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
