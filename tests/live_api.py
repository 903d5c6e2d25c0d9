"""Serve ``router.api.build_api`` on a real uvicorn server in a thread (no Ray), with
real engines: the HTTP contract tested without paying for a Ray cluster."""

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import uvicorn

from router.api import RouterContext, build_api
from router.auth import ApiKeyAuth
from router.config import RouterSettings
from router.ingress import model_cards
from router.routing import ModelResolver
from serving.engine import Engine
from tests.builders import free_port, smol_only_config


def context(
    engines: Mapping[str, Engine], keys: tuple[str, ...] = (), max_body_bytes: int = 65536
) -> RouterContext:
    config = smol_only_config()
    settings = RouterSettings(default_model=config.router.default_model)
    return RouterContext(
        engines=engines,
        resolver=ModelResolver(settings, available=engines),
        auth=ApiKeyAuth(keys),
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
