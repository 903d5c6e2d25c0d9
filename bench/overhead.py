"""Router overhead, in one run: straight to a fast upstream vs through Switchboard (its
default HAProxy front, Ray's HTTP proxy, and a router replica's own port) vs LiteLLM's
proxy and the vLLM Router configured alike.

The upstream is the fake provider process (harness/fake_provider): it answers at once, or
paced at 50 tokens/s for the TTFT scenario. Switchboard runs as `switchboard serve` (the
product as run on one machine) with the smollm2-only fleet plus the `external` provider
pointing at the fake one; every request pins model `external`, whose engine (an aiohttp
relay) runs inside the router replica. Switchboard processes, one after the other:
- switchboard: the default, `switchboard serve` (HAProxy balancing over the router
  replicas' own ports: Ray Serve's direct ingress).
- switchboard-direct: the same server, requests sent to the router replica's own uvicorn
  port, found from the replica's listening socket (what HAProxy's hop costs).
- switchboard-ray-proxy: `--front ray-proxy`, through Ray's HTTP proxy actor.
LiteLLM, when bench/.venv-litellm exists (`python -m bench.overhead --install-litellm`),
runs as `litellm --config ... --num_workers 1`: three deployments on the same fake
upstream, fallbacks external -> smollm2-135m -> qwen2.5-coder-0.5b; else "not installed".
The vLLM Router (Rust), when bench/.venv-vllm-router exists (`--install-vllm-router`):
round robin over the fake upstream, no content routing; else "not installed".

Per target: non-streamed latency at concurrency 1 (p50/p99; "added" = minus upstream);
closed-loop sweeps, non-streamed and streamed (16 tokens, fast upstream), from 1 to 2x
the router's max_ongoing_requests (req/s, latency, errors); 32 concurrent streams of 50
tokens paced at 50 tokens/s (TTFT p50/p95). CPU: psutil user+system time of each server
process by role (the front: HAProxy or Ray's proxy actor; router replica; rest of the Ray
tree; LiteLLM's or the vLLM Router's tree), per request and per relayed SSE chunk, raw
and net of the idle rate measured first.
Checked against the hot-path issue's targets (``bench.overhead_report``).

The load client is this process (asyncio + aiohttp on uvloop, one connection pool).
Every server is a child process whose CPU is read per process, so the client's CPU never
counts as a server's; its own share of a core is reported (near 1.0: client-bound). All
share the machine's cores with each other and with the fake upstream.

Usage: .venv/bin/python -m bench.overhead [--quick] [--max-ongoing 64] [--seconds 5]
           [--targets upstream,switchboard,switchboard-direct,...] [--out DIR]
       .venv/bin/python -m bench.overhead --install-litellm   # creates bench/.venv-litellm
       .venv/bin/python -m bench.overhead --install-vllm-router   # bench/.venv-vllm-router
Writes DIR/overhead_<date>.json and .md (DIR: bench/results). Loopback only; every loop
is bounded by time and by count.
"""

import argparse
import asyncio
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvloop

from bench.load import machine, post
from bench.overhead_cpu import CpuMeter, switchboard_meter, tree
from bench.overhead_phases import JSON_HEADERS, Level, Target, body, measure
from bench.overhead_report import markdown, verdicts
from bench.overhead_servers import (
    LITELLM_VENV,
    LITELLM_VERSION,
    PINNED,
    UPSTREAM_MODEL,
    VLLM_ROUTER_VENV,
    VLLM_ROUTER_VERSION,
    direct_ingress_url,
    install,
    litellm_server,
    switchboard_server,
    venv_version,
    vllm_router_server,
)
from harness.configs import REPO, smol_only_raw, write_config
from harness.fake_provider.process import FakeProviderProcess

TARGETS = ("upstream", "switchboard", "switchboard-direct", "switchboard-ray-proxy", "litellm",
           "vllm-router")  # fmt: skip


async def run_target(
    name: str, session: aiohttp.ClientSession, fake: FakeProviderProcess, config: Path,
    workdir: Path, args: argparse.Namespace,
) -> tuple[list[Level], str]:  # fmt: skip
    """Start the target's server, measure it, stop it. Returns its levels and a note."""
    if name == "upstream":
        fake_pids = [
            p for p in psutil.Process().children() if "fake_provider" in " ".join(p.cmdline())
        ]
        meter = CpuMeter({"upstream": fake_pids}, path=("upstream",))
        target = Target(name, fake.base_url.removesuffix("/v1"), UPSTREAM_MODEL, meter)
        return await measure(session, target, fake, args), "the fake provider itself"
    server = (
        litellm_server(fake.base_url, workdir) if name == "litellm"
        else vllm_router_server(fake.base_url, workdir) if name == "vllm-router"
        else switchboard_server(
            "ray-proxy" if name == "switchboard-ray-proxy" else "haproxy",
            config, fake.base_url, workdir,
        )
    )  # fmt: skip
    if server is None:
        return [], f"not installed (python -m bench.overhead --install-{name})"
    await asyncio.to_thread(server.start, args.start_timeout)
    try:
        assert server.process is not None
        url = server.base_url
        if name in ("litellm", "vllm-router"):
            meter = CpuMeter({name: tree(server.process.pid)}, path=(name,))
        else:
            meter = switchboard_meter(server.process.pid)
            if name == "switchboard-direct":
                url = await asyncio.to_thread(direct_ingress_url, meter)
        await check_pinned(session, url, name)
        target = Target(name, url, PINNED, meter)
        return await measure(session, target, fake, args), f"{url} ({server.log_path})"
    finally:
        await asyncio.to_thread(server.stop)


async def check_pinned(session: aiohttp.ClientSession, url: str, name: str) -> None:
    """The pinned model answers (the others send no x-switchboard-model: taken as pinned)."""
    chat = f"{url}/v1/chat/completions"
    reply = await post(session, chat, body(PINNED, False, 4), JSON_HEADERS, stream=False)
    served = reply.served_by or PINNED
    if reply.status != 200 or served != PINNED:
        text = reply.body.decode(errors="replace")
        raise RuntimeError(f"{name}: {reply.status} served by {served}: {text[:500]}")


def loadavg() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def versions() -> dict[str, str]:
    names = ("ray", "aiohttp", "fastapi", "starlette", "uvicorn", "uvloop", "pydantic")
    found = {name: importlib.metadata.version(name) for name in names}
    found["litellm"] = venv_version(LITELLM_VENV, "litellm") or "not installed"
    found["vllm-router"] = venv_version(VLLM_ROUTER_VENV, "vllm-router") or "not installed"
    git = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    found["switchboard"] = subprocess.run(git, capture_output=True, text=True).stdout.strip()
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the script")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated, in order")
    parser.add_argument("--max-ongoing", type=int, default=64, help="router max_ongoing_requests")
    parser.add_argument("--seconds", type=float, default=5.0, help="per sweep level")
    parser.add_argument("--cap", type=int, default=20_000, help="most requests per level")
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--paced-streams", type=int, default=3, help="per paced client")
    parser.add_argument("--idle-s", type=float, default=3.0)
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--install-litellm", action="store_true", help=f"create {LITELLM_VENV}")
    parser.add_argument(
        "--install-vllm-router", action="store_true", help=f"create {VLLM_ROUTER_VENV}"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.latency_requests, args.paced_streams, args.idle_s = 1.0, 20, 1, 0.5
    m = args.max_ongoing
    args.levels = sorted({1, m, 2 * m} if args.quick else {1, 8, max(1, m // 2), m, 2 * m})
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    return args


async def main(args: argparse.Namespace) -> None:
    meta: dict[str, Any] = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                            "command": " ".join(["python -m bench.overhead", *sys.argv[1:]]),
                            "machine": machine(), "versions": versions(),
                            "loadavg_before": loadavg(), "levels": args.levels,
                            "max_ongoing_requests": args.max_ongoing, "targets": {}}  # fmt: skip
    print(json.dumps(meta), flush=True)
    raw = smol_only_raw()
    raw["router"]["max_ongoing_requests"] = args.max_ongoing
    raw["external_providers"][0]["max_concurrency"] = 4 * args.max_ongoing  # never the limit
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-overhead-"))
    config = write_config(workdir / "models.yaml", raw)
    levels: list[Level] = []
    timeout = aiohttp.ClientTimeout(total=60)
    with FakeProviderProcess() as fake:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for name in args.targets:
                try:
                    found, note = await run_target(name, session, fake, config, workdir, args)
                except RuntimeError as exc:  # a server that did not start: report, go on
                    found, note = [], f"FAILED: {str(exc)[:300]}"
                levels += found
                meta["targets"][name] = note
                print(f"{name}: {note}", flush=True)
    meta["loadavg_after"] = loadavg()
    rows = verdicts(levels, args.max_ongoing)
    report = markdown(meta, levels, rows)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"overhead{'_quick' if args.quick else ''}_{datetime.now(UTC):%Y%m%d}"
    stem.with_suffix(".md").write_text(report)
    payload = {**meta, "verdicts": rows, "results": [asdict(lv) for lv in levels]}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {stem}.md and .json; server logs in {workdir}")


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.install_litellm:
        install(LITELLM_VENV, f"litellm[proxy]=={LITELLM_VERSION}")
    if arguments.install_vllm_router:
        install(VLLM_ROUTER_VENV, f"vllm-router=={VLLM_ROUTER_VERSION}")
    if not (arguments.install_litellm or arguments.install_vllm_router):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(arguments))
