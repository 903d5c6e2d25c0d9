"""A fake OpenAI-compatible provider, in the spirit of llm-d-inference-sim.

Answers deterministically by echoing the words of the last user message (or of the
prompt), one word per token, with injectable latency, errors, rate limits and hangs.
"""

import argparse
import asyncio
import dataclasses
import json
import random
import socket
import sys
from collections import Counter
from typing import Any

from aiohttp import web

from harness.fake_provider.config import FakeConfig
from harness.fake_provider.hostile import MODES, hostile_answer
from harness.fake_provider.reply import Reply

_RUNTIME_FAULTS = frozenset(
    {"ttft_ms", "token_latency_ms", "error_rate", "rate_limit_rate", "hang_rate",
     "stream_error_rate", "max_concurrency", "hostile", "no_usage"}
)  # fmt: skip


def _error(status: int, message: str, etype: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    headers = {"Retry-After": "1"} if status == 429 else None
    return web.json_response(body, status=status, headers=headers)


class FakeProvider:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.last_request: dict[str, Any] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/last_request", self.last)
        app.router.add_post("/faults", self.set_faults)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def models(self, request: web.Request) -> web.Response:
        model = {"id": self.config.model, "object": "model", "created": 0, "owned_by": "fake"}
        return web.json_response({"object": "list", "data": [model]})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({**self.counts, "in_flight": self.in_flight})

    async def last(self, request: web.Request) -> web.Response:
        return web.json_response(self.last_request)

    async def set_faults(self, request: web.Request) -> web.Response:
        """Change the injected latency and faults of the running server (a test drives one
        provider through healthy, failing and recovered phases without restarting it)."""
        changes = await request.json()
        unknown = set(changes) - _RUNTIME_FAULTS
        if unknown:
            return _error(400, f"not a runtime fault: {sorted(unknown)}", "invalid_request_error")
        self.config = dataclasses.replace(self.config, **changes)
        return web.json_response(dataclasses.asdict(self.config) | {"api_key": None})

    def _reject(self, request: web.Request, draw: float) -> web.Response | None:
        """Auth, concurrency and injected faults, in the order a real provider meets them."""
        key = self.config.api_key
        auth = request.headers.get("Authorization", "")
        if key is not None and auth != f"Bearer {key}":
            self.counts["rejected_auth"] += 1
            # Echoes the key it got, as some providers do: the engine must redact it.
            message = f"Incorrect API key provided: {auth.removeprefix('Bearer ')}"
            return _error(401, message, "invalid_request_error", "invalid_api_key")
        if self.config.max_concurrency and self.in_flight >= self.config.max_concurrency:
            self.counts["rejected_concurrency"] += 1
            return _error(429, "Too many concurrent requests", "rate_limit_error")
        if draw < self.config.error_rate:
            self.counts["errors"] += 1
            return _error(500, "The server had an error", "server_error")
        if draw < self.config.error_rate + self.config.rate_limit_rate:
            self.counts["rate_limited"] += 1
            return _error(429, "Rate limit reached", "rate_limit_error", "rate_limit_exceeded")
        return None

    async def completions(self, request: web.Request) -> web.StreamResponse:
        self.counts["requests"] += 1
        body = await request.json()
        self.last_request = {"path": request.path, "headers": dict(request.headers), "body": body}
        draw = self.rng.random()  # one draw per request picks its injected fault, if any
        rejection = self._reject(request, draw)
        if rejection is not None:
            return rejection
        self.in_flight += 1
        try:
            config = self.config
            if draw < config.error_rate + config.rate_limit_rate + config.hang_rate:
                self.counts["hung"] += 1
                await asyncio.Event().wait()  # never answers; cancelled when the client leaves
            await asyncio.sleep(config.ttft_ms / 1000)
            reply = Reply(config, body, request.path.endswith("/chat/completions"))
            if config.hostile:  # "" turns it off at run time
                self.counts["hostile"] += 1
                return await hostile_answer(config.hostile, request, reply)
            if body.get("stream"):
                return await self._stream(request, reply)
            self.counts["served"] += 1
            return web.json_response(reply.whole())
        finally:
            self.in_flight -= 1

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        failing = self.rng.random() < self.config.stream_error_rate
        try:
            for position, events in enumerate(reply.events()):
                if position:
                    await asyncio.sleep(self.config.token_latency_ms / 1000)
                if failing and position == 1:
                    error = {"message": "Upstream overloaded", "type": "server_error"}
                    events = [{"error": {**error, "param": None, "code": None}}]
                for event in events:
                    await response.write(f"data: {json.dumps(event)}\n\n".encode())
                if failing and position == 1:
                    break
            if reply.include_usage and not failing:
                await response.write(f"data: {json.dumps(reply.usage_chunk())}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            self.counts["served"] += 1
        except (ConnectionResetError, asyncio.CancelledError):  # the client went away
            self.counts["client_disconnects"] += 1
            raise
        return response


async def serve(config: FakeConfig, host: str, port: int) -> None:
    """Serve forever; print ``LISTENING <port>`` once bound (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # handler_cancellation: a client leaving cancels its handler, as in real servers.
    app = FakeProvider(config).app()
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.fake_provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--model", default="fake-model")
    for flag in ("ttft-ms", "token-latency-ms", "error-rate", "rate-limit-rate", "hang-rate",
                 "stream-error-rate"):  # fmt: skip
        parser.add_argument(f"--{flag}", type=float, default=0.0)
    parser.add_argument("--max-concurrency", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-usage", action="store_true")
    parser.add_argument("--hostile", choices=sorted(MODES), default=None)
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    try:
        asyncio.run(serve(FakeConfig(**args), host, port))
    except KeyboardInterrupt:
        sys.exit(0)
