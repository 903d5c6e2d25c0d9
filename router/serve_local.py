"""Run the app on an embedded single-machine Ray (``switchboard serve``)."""

import logging
import math
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import ray
from ray import serve

from router.app import APP_NAME, SwitchboardArgs, build_app
from router.auth import ApiKeyAuth
from router.config import SwitchboardConfig
from router.config_loader import ConfigError, ConfigProblem, check_weights, load_config
from serving.external_engine import ExternalEngine

logger = logging.getLogger(__name__)
READY_TIMEOUT_S = 600.0


def run_local(config_path: Path, models_dir: Path, host: str, port: int, metrics_port: int) -> int:
    """Start Ray + Serve, deploy, wait until ready, then block until SIGINT or SIGTERM.
    Ray's metrics agent serves every replica's series on ``metrics_port``."""
    # Fail on a bad config before paying for Ray's start-up.
    config = load_config(config_path)
    check_weights(config, models_dir, source=str(config_path))
    _check_environment(config, source=str(config_path))
    needed_cpus = sum(m.deployment.num_cpus * m.deployment.num_replicas for m in config.models)
    started = time.monotonic()
    # address="local": always a fresh embedded cluster, never one left running elsewhere.
    cpus = max(os.cpu_count() or 1, math.ceil(needed_cpus))
    ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        _metrics_export_port=metrics_port,
    )
    # After ray.init, which installs its own SIGTERM handler: both signals stop cleanly.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        app = build_app(SwitchboardArgs(config_path=str(config_path), models_dir=str(models_dir)))
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        url = f"http://{host}:{port}"
        if not _wait_ready(url, stop):
            return 1
        print(
            f"Switchboard ready at {url}/v1 (started in {time.monotonic() - started:.1f} s)\n"
            f"Prometheus scrape URL (every replica): http://127.0.0.1:{metrics_port}/metrics",
            flush=True,
        )
        stop.wait()
        print("Shutting down...", flush=True)
        return 0
    finally:
        serve.shutdown()
        ray.shutdown()


def _check_environment(config: SwitchboardConfig, source: str) -> None:
    """What the router replica reads from the environment, checked before deploying: a
    failure inside the replica would only crash-loop it."""
    try:
        for provider in config.external_providers:
            ExternalEngine.from_env(provider, os.environ)
        ApiKeyAuth.from_settings(config.auth, os.environ)
    except (ValueError, OSError) as exc:
        hint = "set the variable, or fix the file it names"
        raise ConfigError(source, [ConfigProblem("<environment>", str(exc), hint)]) from exc


def _wait_ready(url: str, stop: threading.Event) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.5)
    if not stop.is_set():
        logger.error("not ready after %.0f s", READY_TIMEOUT_S)
    return False
