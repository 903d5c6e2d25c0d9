"""Serve ``router.api.build_api`` on a real uvicorn server in a thread (no Ray), with
real engines: the HTTP contract tested without paying for a Ray cluster."""

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import uvicorn

from router.api import RouterContext, build_api
from router.auth import ApiKeyAuth
from router.config import SwitchboardConfig
from router.ingress import model_cards
from router.routing.build import build_pipeline
from serving.engine import Engine
from serving.weights import default_models_dir
from tests.builders import free_port, smol_only_config


def context(
    engines: Mapping[str, Engine],
    keys: tuple[str, ...] = (),
    max_body_bytes: int = 65536,
    config: SwitchboardConfig | None = None,
) -> RouterContext:
    """The router's context over ``engines`` (ids from ``config``, default: SmolLM2 only)."""
    config = config or smol_only_config()
    return RouterContext(
        engines=engines,
        pipeline=build_pipeline(config, default_models_dir(), enabled=set(engines)),
        aliases=config.router.aliases,
        auth=ApiKeyAuth(keys, config.auth.keys),
        model_cards=model_cards(config, dict(engines)),
        max_body_bytes=max_body_bytes,
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
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
