"""The real application on a fresh local Ray Serve, for integration tests."""

import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray
from ray import serve

from router.app import SwitchboardArgs, build_app
from serving.weights import default_models_dir
from tests.builders import free_port


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    """``serve.run`` returns once the deployments are healthy; the router is ready a poll
    later, when its load view has seen every model (``/readyz``, as ``switchboard serve``
    waits for)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:  # HTTPError 503 included: not ready yet
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url}/readyz not 200 within {timeout_s} s")


@contextmanager
def running_app(config: Path, metrics_port: int | None = None) -> Iterator[str]:
    """Deploy the app built from ``config``; yield its HTTP base URL; tear it all down.
    ``metrics_port``: where Ray's metrics agent serves every replica's series."""
    port = free_port()
    metrics = {"_metrics_export_port": metrics_port} if metrics_port else {}
    ray.init(address="local", num_cpus=2, include_dashboard=False, **metrics)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        args = SwitchboardArgs(config_path=str(config), models_dir=str(default_models_dir()))
        serve.run(build_app(args), name="switchboard", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        yield url
    finally:
        serve.shutdown()
        ray.shutdown()
