"""Serve ``router.http.api.build_api`` on a real uvicorn server in a thread (no Ray), with
real engines: the HTTP contract tested without paying for a Ray cluster."""

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import uvicorn
from prometheus_client import CollectorRegistry

from harness.ports import free_port
from router.auth import ApiKeyAuth
from router.config import SwitchboardConfig
from router.http.api import build_api
from router.load.poller import LoadSource, SingleEngineLoad
from router.metrics.instruments import Instruments, PrometheusInstruments
from router.service import RouterContext
from router.wiring import build_context
from serving.embedding import Embedder
from serving.engine import Engine
from serving.weights import default_models_dir
from tests.builders import smol_only_config


def context(
    engines: Mapping[str, Engine],
    keys: tuple[str, ...] = (),
    max_body_bytes: int = 65536,
    config: SwitchboardConfig | None = None,
    instruments: Instruments | None = None,
    auth: ApiKeyAuth | None = None,
    embedders: Mapping[str, Embedder] | None = None,
) -> RouterContext:
    """The router's context over in-process ``engines`` and ``embedders`` (ids from
    ``config``, default: SmolLM2 only), wired exactly as the Serve replica wires it;
    metrics go to a fresh ``prometheus_client`` registry unless ``instruments`` says
    otherwise; ``auth`` (say, from a key file) in place of ``keys``."""
    config = config or smol_only_config()
    config = config.model_copy(
        update={"router": config.router.model_copy(update={"max_body_bytes": max_body_bytes})}
    )
    local = {m.id for m in config.models}
    embedders = embedders or {}
    sources: dict[str, LoadSource] = {
        model_id: SingleEngineLoad(engine)
        for model_id, engine in {**engines, **embedders}.items()
        if model_id in local
    }
    auth = auth or ApiKeyAuth(keys, config.auth.keys)
    instruments = instruments or PrometheusInstruments(CollectorRegistry())
    return build_context(
        config, engines, sources, default_models_dir(), auth, instruments, embedders
    )


@contextmanager
def serve_api(ctx: RouterContext) -> Iterator[str]:
    """Yield the base URL of a live server for ``ctx``; stop it on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_api(ctx), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    # Started, and the load view has seen every local model (until then it is saturated).
    while time.monotonic() < deadline and not (
        server.started and all(ctx.poller.load(m) for m in ctx.poller.model_ids)
    ):
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
