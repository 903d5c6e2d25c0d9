"""Router overhead, in one run: straight to a fast upstream vs through Switchboard (Ray's
HTTP proxy, and Ray's direct ingress) vs LiteLLM's proxy configured alike.

The upstream is the fake provider process (tests/fake_provider): it answers at once, or
paced at 50 tokens/s for the TTFT scenario. Switchboard runs as `switchboard serve` (the
product as run on one machine) with the smollm2-only fleet plus the `external` provider
pointing at the fake one; every request pins model `external`, whose engine (an aiohttp
relay) runs inside the router replica. Two Switchboard processes, one after the other:
- switchboard-proxy: Ray Serve defaults; requests go through Ray's HTTP proxy actor.
- switchboard-direct: RAY_SERVE_THROUGHPUT_OPTIMIZED=1; requests go to the router
  replica's own uvicorn port (direct ingress), found from the replica's listening socket.
LiteLLM, when bench/.venv-litellm exists (`python -m bench.overhead --install-litellm`),
runs as `litellm --config ... --num_workers 1`: three deployments on the same fake
upstream, fallbacks external -> smollm2-135m -> qwen2.5-coder-0.5b; else "not installed".

Per target: non-streamed latency at concurrency 1 (p50/p99; "added" = minus upstream);
closed-loop sweeps, non-streamed and streamed (16 tokens, fast upstream), from 1 to 2x
the router's max_ongoing_requests (req/s, latency, errors); 32 concurrent streams of 50
tokens paced at 50 tokens/s (TTFT p50/p95). CPU: psutil user+system time of each server
process by role (Ray proxy actor, router replica, rest of the Ray tree; LiteLLM's tree),
per request and per relayed SSE chunk, raw and net of the idle rate measured first.

The load client is this process (asyncio + aiohttp on uvloop, one connection pool).
Every server is a child process whose CPU is read per process, so the client's CPU never
counts as a server's; its own share of a core is reported (near 1.0: client-bound). All
share the machine's cores with each other and with the fake upstream.

Usage: .venv/bin/python -m bench.overhead [--quick] [--max-ongoing 64] [--seconds 5]
           [--targets upstream,switchboard-proxy,switchboard-direct,litellm] [--out DIR]
       .venv/bin/python -m bench.overhead --install-litellm   # creates bench/.venv-litellm
Writes DIR/overhead_<date>.json and .md (DIR: bench/results). Loopback only; every loop
is bounded by time and by count.
"""

import argparse
import asyncio
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvloop
import yaml

from bench.load import machine, percentile
from router.app import APP_NAME
from router.http.ingress import RouterIngress
from tests.builders import free_port, smol_only_raw, write_config
from tests.fake_provider.fixtures import FakeProviderProcess

REPO = Path(__file__).resolve().parent.parent
LITELLM_VENV = REPO / "bench" / ".venv-litellm"
LITELLM_VERSION = "1.106.0"
TARGETS = ("upstream", "switchboard-proxy", "switchboard-direct", "litellm")
PROMPT = " ".join(f"w{i}" for i in range(64))  # the fake provider echoes a word per token
UPSTREAM_MODEL, PINNED = "fake-model", "external"
FAST_TOKENS, PACED_CLIENTS, PACED_TOKENS, PACED_TOKEN_MS = 16, 32, 50, 20.0
# Auth on everywhere, as in production: Switchboard checks this key, LiteLLM takes it as its
# master key, and the fake upstream ignores it.
BENCH_KEY = "sk-bench-0123456789abcdef"
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


class CpuMeter:
    """User + system CPU seconds of fixed processes, summed by role."""

    def __init__(self, roles: dict[str, list[psutil.Process]], path: tuple[str, ...]) -> None:
        self.roles, self.path = roles, path
        self._last: dict[int, float] = {}  # a process that ended keeps its last reading

    def read(self) -> dict[str, float]:
        totals = {}
        for role, processes in self.roles.items():
            for process in processes:
                try:
                    times = process.cpu_times()
                    self._last[process.pid] = times.user + times.system
                except psutil.Error:
                    pass
            totals[role] = sum(self._last.get(p.pid, 0.0) for p in processes)
        return totals


@dataclass
class Target:
    name: str
    base_url: str
    model: str
    cpu: CpuMeter
    idle_cpu_per_s: float = 0.0  # request-path roles, before any load


async def one(session: aiohttp.ClientSession, url: str, payload: bytes, stream: bool) -> Outcome:
    started = time.perf_counter()
    ttft, chunks, done, failed = 0.0, 0, False, False
    try:
        async with session.post(url, data=payload, headers=JSON_HEADERS) as reply:
            if reply.status != 200:
                await reply.read()
                return Outcome(False, time.perf_counter() - started, error=str(reply.status))
            if not stream:
                ok = b'"choices"' in await reply.read()
                return Outcome(ok, time.perf_counter() - started, error="" if ok else "body")
            async for line in reply.content:
                if line.startswith(b"data: {"):
                    ttft = ttft or time.perf_counter() - started
                    chunks += 1
                    failed = failed or line.startswith(b'data: {"error"')
                elif line.startswith(b"data: [DONE]"):
                    done = True
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Outcome(False, time.perf_counter() - started, error=type(exc).__name__)
    error = "error event" if failed else "" if done else "no [DONE]"
    return Outcome(not error, time.perf_counter() - started, ttft, chunks, error)


def body(model: str, stream: bool, max_tokens: int) -> bytes:
    request: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": stream,
                               "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip
    if stream:
        request["stream_options"] = {"include_usage": True}
    return json.dumps(request).encode()


def own_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


async def level(
    session: aiohttp.ClientSession, target: Target, scenario: str, concurrency: int,
    seconds: float, cap: int, max_tokens: int,
) -> Level:  # fmt: skip
    """Closed loop: ``concurrency`` clients, each sending the next request when its last
    one ends, until ``seconds`` have passed or ``cap`` requests were started."""
    stream = "stream" in scenario
    url, payload = f"{target.base_url}/v1/chat/completions", body(target.model, stream, max_tokens)
    outcomes: list[Outcome] = []
    started, deadline = 0, time.perf_counter() + seconds

    async def client() -> None:
        nonlocal started
        while started < cap and time.perf_counter() < deadline:
            started += 1
            outcomes.append(await one(session, url, payload, stream))

    cpu_before, client_before, t0 = target.cpu.read(), own_cpu_s(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
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


class ChildServer:
    """A server as a child process, its output in a log file; ready once ``ready_url``
    answers 200. Stopped with SIGINT (both servers shut down cleanly on it)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], ready_url: str,
                 workdir: Path) -> None:  # fmt: skip
        self.name, self.command, self.env, self.ready_url = name, command, env, ready_url
        self.workdir, self.log_path = workdir, workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if http_ok(self.ready_url):
                return
            time.sleep(0.5)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not become ready ({self.log_path}):\n{tail}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def switchboard_meter(pid: int) -> CpuMeter:
    """Ray names its worker processes after what they run: ``ray::ProxyActor...``,
    ``ray::ServeReplica:<app>:<deployment>...``."""
    router = f"ServeReplica:{APP_NAME}:{RouterIngress.name}"
    roles: dict[str, list[psutil.Process]] = {"ray_proxy": [], "router_replica": [],
                                              "ray_other": []}  # fmt: skip
    for process in tree(pid):
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        role = (
            "router_replica" if router in title else "ray_proxy" if "ProxyActor" in title else None
        )
        roles[role or "ray_other"].append(process)
    return CpuMeter(roles, path=("ray_proxy", "router_replica"))


def direct_ingress_url(meter: CpuMeter) -> str:
    """The router replica's direct-ingress port: Ray's controller hands it out of
    [RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT, ..._MAX_HTTP_PORT), by default [30000, 31000)
    (the server's env drops RAY_SERVE_*), and has no public API for it: read it off the
    replica's listening sockets and check that it serves our app."""
    low, high = 30000, 31000
    for _ in range(60):
        for process in meter.roles["router_replica"]:
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and low <= conn.laddr.port < high:
                    url = f"http://{conn.laddr.ip}:{conn.laddr.port}"
                    if http_ok(f"{url}/healthz"):
                        return url
        time.sleep(0.5)
    raise RuntimeError("the router replica listens on no direct-ingress port")


def switchboard_server(direct: bool, config: Path, upstream: str, workdir: Path) -> ChildServer:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_SERVE_", "SWITCHBOARD_")) or k == "SWITCHBOARD_MODELS_DIR"
    }
    env |= {"HF_HUB_OFFLINE": "1", "SWITCHBOARD_EXTERNAL_BASE_URL": upstream,
            "SWITCHBOARD_EXTERNAL_MODEL": UPSTREAM_MODEL,
            "SWITCHBOARD_API_KEYS": f"bench:{BENCH_KEY}"}  # fmt: skip
    if direct:  # no load balancer to drain from: do not hold the replica 30 s at shutdown
        env |= {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
                "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0"}  # fmt: skip
    switchboard = str(Path(sys.executable).parent / "switchboard")
    command = [switchboard, "serve", "--config", str(config), "--port", str(port),
               "--metrics-port", str(free_port())]  # fmt: skip
    name = "switchboard-direct" if direct else "switchboard-proxy"
    return ChildServer(name, command, env, f"http://127.0.0.1:{port}/readyz", workdir)


def litellm_config(upstream: str) -> dict[str, Any]:
    """Three deployments on the fake upstream under the default fleet's three ids (the
    issue's "router with 3 deployments and fallbacks"); requests pin ``external``."""
    names = (PINNED, "smollm2-135m", "qwen2.5-coder-0.5b")
    params = {"model": f"openai/{UPSTREAM_MODEL}", "api_base": upstream, "api_key": "sk-bench"}
    return {
        "model_list": [{"model_name": name, "litellm_params": params} for name in names],
        "router_settings": {"routing_strategy": "simple-shuffle",
                            "fallbacks": [{PINNED: list(names[1:])}]},
    }  # fmt: skip


def litellm_server(upstream: str, workdir: Path) -> ChildServer | None:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        return None
    config = workdir / "litellm.yaml"
    config.write_text(yaml.safe_dump(litellm_config(upstream), sort_keys=False))
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LITELLM_", "DATABASE_URL", "PYTHON", "VIRTUAL_ENV"))
    }
    # No network here: use the cost map and headers shipped in the package. ERROR also
    # silences uvicorn's access log (Switchboard logs one JSON line per request).
    env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
            "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": BENCH_KEY}  # fmt: skip
    command = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
               "--num_workers", "1"]  # fmt: skip
    return ChildServer("litellm", command, env, f"http://127.0.0.1:{port}/health/liveliness",
                       workdir)  # fmt: skip


def litellm_version() -> str | None:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        return None
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def install_litellm() -> None:
    """A venv of its own: LiteLLM's proxy extras pin FastAPI/Starlette versions that
    Switchboard's environment must not get."""
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = str(LITELLM_VENV / "bin" / "pip")
    subprocess.run([pip, "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True)


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
        else switchboard_server(name.endswith("direct"), config, fake.base_url, workdir)
    )  # fmt: skip
    if server is None:
        return [], f"not installed ({LITELLM_VENV}; python -m bench.overhead --install-litellm)"
    await asyncio.to_thread(server.start, args.start_timeout)
    try:
        assert server.process is not None
        if name == "litellm":
            meter = CpuMeter({"litellm": tree(server.process.pid)}, path=("litellm",))
            url = server.ready_url.removesuffix("/health/liveliness")
        else:
            meter = switchboard_meter(server.process.pid)
            url = server.ready_url.removesuffix("/readyz")
            if name.endswith("direct"):
                url = await asyncio.to_thread(direct_ingress_url, meter)
        await check_pinned(session, url, name)
        target = Target(name, url, PINNED, meter)
        return await measure(session, target, fake, args), f"{url} ({server.log_path})"
    finally:
        await asyncio.to_thread(server.stop)


async def check_pinned(session: aiohttp.ClientSession, url: str, name: str) -> None:
    async with session.post(f"{url}/v1/chat/completions", data=body(PINNED, False, 4),
                            headers=JSON_HEADERS) as reply:  # fmt: skip
        text = await reply.text()
        served = reply.headers.get("x-switchboard-model", PINNED)
    if reply.status != 200 or served != PINNED:
        raise RuntimeError(f"{name}: {reply.status} served by {served}: {text[:500]}")


def peak(levels: list[Level], target: str, scenario: str) -> float:
    return max((lv.per_s for lv in levels if lv.target == target and lv.scenario == scenario),
               default=0.0)  # fmt: skip


def find(
    levels: list[Level], target: str, scenario: str, concurrency: int | None = None
) -> Level | None:
    return next((lv for lv in levels if lv.target == target and lv.scenario == scenario
                 and concurrency in (None, lv.concurrency)), None)  # fmt: skip


def verdicts(levels: list[Level], max_ongoing: int) -> list[dict[str, Any]]:
    """The issue's targets, for each Switchboard target measured in this run."""
    rows: list[dict[str, Any]] = []
    for name in ("switchboard-proxy", "switchboard-direct"):
        if find(levels, name, "latency-c1") is not None:
            checks = target_checks(levels, name, max_ongoing)
            rows += [{"target": name, "goal": g, "value": v, "pass": ok} for g, v, ok in checks]
    return rows


def target_checks(
    levels: list[Level], name: str, max_ongoing: int
) -> list[tuple[str, float | None, bool | None]]:
    checks: list[tuple[str, float | None, bool | None]] = []
    c1, upstream = find(levels, name, "latency-c1"), find(levels, "upstream", "latency-c1")
    added = c1.p50_ms - upstream.p50_ms if c1 and upstream else None
    checks.append(("added p50 at c=1 <= 3 ms", added, None if added is None else added <= 3))
    for scenario, goal in (("sweep", 3), ("sweep-stream", 5)):
        theirs = peak(levels, "litellm", scenario)
        ratio = peak(levels, name, scenario) / theirs if theirs else None
        passed = None if ratio is None else ratio >= goal
        checks.append((f"peak {scenario} per s >= {goal}x LiteLLM's", ratio, passed))
    paced = find(levels, name, "paced-stream")
    chunk = paced.cpu_ms_per_chunk if paced else None
    checks.append(
        ("CPU ms per relayed chunk <= 0.1", chunk, None if chunk is None else chunk <= 0.1)
    )
    for scenario in ("sweep", "sweep-stream"):
        at = find(levels, name, scenario, max_ongoing)
        over = find(levels, name, scenario, 2 * max_ongoing)
        if at and over:  # collapse: under 80% of the rate at the limit, or any error
            share = over.per_s / at.per_s if at.per_s else 0.0
            what = f"{scenario}: 2x max_ongoing keeps >= 80% of 1x's rate, no errors"
            checks.append((what, share, share >= 0.8 and over.errors == 0))
    return checks


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def summary(levels: list[Level]) -> list[str]:
    """One row per target: latency added at c=1, peak rates, paced TTFT, CPU (at the
    peak non-streamed level, and per chunk of the paced streams)."""
    upstream = find(levels, "upstream", "latency-c1")
    lines = ["| target | p50 / p99 ms at c=1 (added p50) | peak req/s | peak streams/s | "
             "TTFT p50 / p95 ms, 32 paced streams | CPU ms/req at peak | CPU ms/chunk paced |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in dict.fromkeys(lv.target for lv in levels):
        c1, paced = find(levels, name, "latency-c1"), find(levels, name, "paced-stream")
        best = max((lv for lv in levels if lv.target == name and lv.scenario == "sweep"),
                   key=lambda lv: lv.per_s, default=None)  # fmt: skip
        if c1 is None or paced is None or best is None:
            continue
        added = f" (+{c1.p50_ms - upstream.p50_ms:.2f})" if upstream else ""
        lines.append(
            f"| {name} | {c1.p50_ms:.2f} / {c1.p99_ms:.2f}{added} | {best.per_s:.0f} | "
            f"{peak(levels, name, 'sweep-stream'):.0f} | {paced.ttft_p50_ms:.1f} / "
            f"{paced.ttft_p95_ms:.1f} | {best.cpu_ms_per_request:.2f} | "
            f"{fmt(paced.cpu_ms_per_chunk)} |"
        )
    return lines


def markdown(meta: dict[str, Any], levels: list[Level], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# Router overhead ({meta['date']})",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {json.dumps(meta['machine'])}  ",
        f"Versions: {json.dumps(meta['versions'])}  ",
        f"Load average before / after: {meta['loadavg_before']} / {meta['loadavg_after']}",
        "",
    ]
    lines += [f"- {name}: {note}" for name, note in meta["targets"].items()]
    lines += ["", "## Summary (the README table)", "", *summary(levels), ""]
    lines += ["## Targets (issue 8)", "", "| target | goal | value | pass |", "|---|---|---|---|"]
    lines += [
        f"| {r['target']} | {r['goal']} | {fmt(r['value'])} | {fmt(r['pass'])} |" for r in rows
    ]
    lines += ["", "## Levels", "", "CPU: ms of the request path (proxy + router replica; LiteLLM's "
              "tree; the upstream's own process); net: minus the idle rate; tree: every server "
              "process per request; client: this process's share of one core.", "",
              "| scenario | target | clients | ok | errors | per s | chunks/s | p50 / p99 ms | "
              "TTFT p50 / p95 ms | CPU ms/req | net ms/req | CPU ms/chunk | net ms/chunk | "
              "tree ms/req | client |", "|" + "---|" * 15]  # fmt: skip
    for lv in levels:
        lines.append(
            f"| {lv.scenario} | {lv.target} | {lv.concurrency} | {lv.ok} | {lv.errors} "
            f"{lv.error_kinds or ''} | {lv.per_s:.1f} | {lv.chunks_per_s:.0f} | "
            f"{lv.p50_ms:.2f} / {lv.p99_ms:.2f} | {lv.ttft_p50_ms:.2f} / {lv.ttft_p95_ms:.2f} | "
            f"{lv.cpu_ms_per_request:.3f} | {lv.net_cpu_ms_per_request:.3f} | "
            f"{fmt(lv.cpu_ms_per_chunk)} | {fmt(lv.net_cpu_ms_per_chunk)} | "
            f"{lv.tree_cpu_ms_per_request:.3f} | {lv.client_cpu_share:.2f} |"
        )
    return "\n".join(lines) + "\n"


def loadavg() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def versions() -> dict[str, str]:
    names = ("ray", "aiohttp", "fastapi", "starlette", "uvicorn", "uvloop", "pydantic")
    found = {name: importlib.metadata.version(name) for name in names}
    found["litellm"] = litellm_version() or "not installed"
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
        install_litellm()
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(arguments))
