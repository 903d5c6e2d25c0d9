"""Embeddings benchmark: the default fleet's all-MiniLM-L6-v2 through `switchboard serve`
(its embedding deployment; base64, what the official client asks for) against the same
embedder in-process, in one run: requests/s, latency p50/p95 and input tokens/s, for
requests of 1 and 32 inputs at 1 and 8 concurrent clients.

Usage: .venv/bin/python -m bench.embeddings [--inputs 1 32] [--concurrency 1 8]
Writes bench/results/embeddings_<date>.md. Loopback only; loops are bounded.
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.load import LoadResult, Sample, machine, report_header, run_load
from harness.configs import embedding_model_raw, smol_only_raw, write_config
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess
from router.model_config import LocalModelConfig
from serving.embedding import EmbeddingRequest
from serving.transformers_embedder import TransformersEmbedder
from serving.weights import default_models_dir, prepared_dir

RESULTS = Path(__file__).parent / "results"
TEXT = "The quick brown fox jumps over the lazy dog, then rests in the shade of an old oak."


def http_sample(
    session: aiohttp.ClientSession, url: str, model: str, inputs: int
) -> Callable[[], Awaitable[Sample]]:
    body = json.dumps({"model": model, "input": [TEXT] * inputs, "encoding_format": "base64"})

    async def one() -> Sample:
        started = time.perf_counter()
        headers = {"Content-Type": "application/json"}
        async with session.post(f"{url}/v1/embeddings", data=body, headers=headers) as reply:
            assert reply.status == 200, await reply.text()
            tokens = (await reply.json())["usage"]["prompt_tokens"]
        total = time.perf_counter() - started
        return Sample(total, total, tokens)

    return one


def direct_sample(embedder: TransformersEmbedder, inputs: int) -> Callable[[], Awaitable[Sample]]:
    request = EmbeddingRequest("bench", (TEXT,) * inputs)

    async def one() -> Sample:
        started = time.perf_counter()
        tokens = (await embedder.embed(request)).prompt_tokens
        total = time.perf_counter() - started
        return Sample(total, total, tokens)

    return one


async def through_switchboard(args: argparse.Namespace) -> list[LoadResult]:
    raw = smol_only_raw()
    raw["models"].append(embedding_model_raw())
    config = write_config(Path(tempfile.mkdtemp(prefix="embed-bench-")) / "models.yaml", raw)
    server = SwitchboardProcess(config, free_port()).start()
    model = raw["models"][-1]["id"]
    try:
        async with aiohttp.ClientSession() as session:
            return await sweep(
                "switchboard", lambda n: http_sample(session, server.base_url, model, n), args
            )
    finally:
        server.stop()


async def direct(args: argparse.Namespace) -> list[LoadResult]:
    model = LocalModelConfig.model_validate(embedding_model_raw())
    embedder = TransformersEmbedder.load(
        prepared_dir(model, default_models_dir()),
        context_window=model.context_window,
        args=model.transformers,
    )
    try:
        return await sweep("embedder in-process", lambda n: direct_sample(embedder, n), args)
    finally:
        embedder.close()


async def sweep(
    path: str, sample: Callable[[int], Callable[[], Awaitable[Sample]]], args: argparse.Namespace
) -> list[LoadResult]:
    """Every inputs-per-request size at every client count, one warm-up request each."""
    results = []
    for inputs in args.inputs:
        one = sample(inputs)
        await one()
        for clients in args.concurrency:
            label = f"{path}, {inputs} inputs/request"
            results.append(await run_load(label, one, clients, args.requests_per_client))
    return results


def report(results: list[LoadResult], command: str) -> str:
    lines = report_header("Embeddings: Switchboard vs the embedder in-process", command, machine())
    lines += [
        "| path | clients | requests | req/s | p50 ms | p95 ms | input tokens/s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.target} | {r.concurrency} | {r.requests} | {r.requests_per_s:.1f} | "
        f"{r.e2e_p50_ms:.1f} | {r.e2e_p95_ms:.1f} | {r.output_tokens_per_s:.0f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests-per-client", type=int, default=20)
    args = parser.parse_args()
    results = asyncio.run(through_switchboard(args)) + asyncio.run(direct(args))
    command = "python -m bench.embeddings " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
    )
    text = report(results, command)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"embeddings_{datetime.now(UTC):%Y%m%d}.md"
    path.write_text(text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
