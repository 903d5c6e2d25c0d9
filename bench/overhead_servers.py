"""The routers the overhead benchmark compares, each started as a child process relaying to
the fake upstream: Switchboard (``switchboard serve`` with each front), LiteLLM's proxy and
the vLLM Router (each from a venv of its own, when installed)."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.overhead_cpu import CpuMeter
from harness.configs import REPO
from harness.ports import free_port
from router.cli.front import Front

LITELLM_VENV = REPO / "bench" / ".venv-litellm"
LITELLM_VERSION = "1.106.0"
VLLM_ROUTER_VENV = REPO / "bench" / ".venv-vllm-router"
VLLM_ROUTER_VERSION = "0.1.17"
UPSTREAM_MODEL, PINNED = "fake-model", "external"
# Auth on everywhere, as in production: Switchboard checks this key, LiteLLM takes it as its
# master key, and the fake upstream ignores it.
BENCH_KEY = "sk-bench-0123456789abcdef"


class ChildServer:
    """A server as a child process on ``port`` (loopback), its output in a log file; ready
    once ``ready_path`` answers 200. Stopped with SIGINT (every server here shuts down
    cleanly on it)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int,
                 ready_path: str, workdir: Path) -> None:  # fmt: skip
        self.name, self.command, self.env = name, command, env
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready_url = self.base_url + ready_path
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


def switchboard_server(front: Front, config: Path, upstream: str, workdir: Path) -> ChildServer:
    """``switchboard serve --front FRONT``, with no RAY_SERVE_* of this environment."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_SERVE_", "SWITCHBOARD_")) or k == "SWITCHBOARD_MODELS_DIR"
    }
    env |= {"HF_HUB_OFFLINE": "1", "SWITCHBOARD_EXTERNAL_BASE_URL": upstream,
            "SWITCHBOARD_EXTERNAL_MODEL": UPSTREAM_MODEL,
            "SWITCHBOARD_API_KEYS": f"bench:{BENCH_KEY}"}  # fmt: skip
    switchboard = str(Path(sys.executable).parent / "switchboard")
    command = [switchboard, "serve", "--config", str(config), "--port", str(port),
               "--metrics-port", str(free_port()), "--front", front]  # fmt: skip
    return ChildServer(f"switchboard-{front}", command, env, port, "/readyz", workdir)


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
    return ChildServer("litellm", command, env, port, "/health/liveliness", workdir)


def vllm_router_server(upstream: str, workdir: Path) -> ChildServer | None:
    """Round robin over the one upstream (its URL without ``/v1``: the router adds the
    path); no retries, so each request reaches the upstream once, as through the others.
    Its Prometheus port cannot be switched off: a free one."""
    binary = VLLM_ROUTER_VENV / "bin" / "vllm-router"
    if not binary.exists():
        return None
    port = free_port()
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port),
               "--worker-urls", upstream.removesuffix("/v1"), "--policy", "round_robin",
               "--disable-retries", "--log-level", "warning",
               "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port())]  # fmt: skip
    return ChildServer("vllm-router", command, dict(os.environ), port, "/readiness", workdir)


def venv_version(venv: Path, package: str) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def install(venv: Path, requirement: str) -> None:
    """A venv of its own: LiteLLM's proxy extras pin FastAPI/Starlette versions that
    Switchboard's environment must not get, and the vLLM Router brings its own."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", requirement], check=True)
