"""Runs the real application on a fresh local Ray Serve, for the integration tests and the
benchmarks."""

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray import serve

from harness.ports import free_port
from router.app import APP_NAME, SwitchboardArgs, build_app
from router.cli.serve_local import wait_ready
from serving.weights import default_models_dir

T = TypeVar("T")


@contextmanager
def running_app(config: Path, metrics_port: int | None = None) -> Iterator[str]:
    """Deploy the app built from ``config``; yield its HTTP base URL; tear it all down.
    ``metrics_port``: where Ray's metrics agent serves every replica's series."""
    port = free_port()
    metrics: dict[str, Any] = {"_metrics_export_port": metrics_port} if metrics_port else {}
    ray.init(address="local", num_cpus=2, include_dashboard=False, **metrics)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        args = SwitchboardArgs(config_path=str(config), models_dir=str(default_models_dir()))
        serve.run(build_app(args), name=APP_NAME, route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        if not wait_ready(url, timeout_s=60):
            raise TimeoutError(f"{url}/readyz not 200 within 60 s")
        yield url
    finally:
        serve.shutdown()
        ray.shutdown()


async def peak_engine_load(model_id: str, work: Awaitable[T]) -> tuple[T, int]:
    """Await ``work`` while sampling the model's engine (running + waiting) every 50 ms;
    return its result and the highest load seen."""
    handle = serve.get_deployment_handle(f"model-{model_id}", app_name=APP_NAME)
    task = asyncio.ensure_future(work)
    peak = 0
    while not task.done():
        stats = await handle.stats.remote()
        peak = max(peak, stats.running + stats.waiting)
        await asyncio.sleep(0.05)
    return await task, peak
