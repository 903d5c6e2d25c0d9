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
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class FakeConfig:
    api_key: str | None = None
    model: str = "fake-model"
    ttft_ms: float = 0.0
    token_latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    hang_rate: float = 0.0
    stream_error_rate: float = 0.0  # streams that send an error event after the first word
    max_concurrency: int = 0  # 0: unlimited
    no_usage: bool = False  # ignore stream_options.include_usage, as some providers do
    seed: int = 0


_RUNTIME_FAULTS = frozenset(
    {"ttft_ms", "token_latency_ms", "error_rate", "rate_limit_rate", "hang_rate",
     "stream_error_rate", "max_concurrency"}
)  # fmt: skip


def _error(status: int, message: str, etype: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    headers = {"Retry-After": "1"} if status == 429 else None
    return web.json_response(body, status=status, headers=headers)


def _count_words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):  # content parts: count the text ones
        return sum(_count_words(p.get("text")) for p in content if isinstance(p, dict))
    return 0


def _prompt_words(body: Mapping[str, Any], chat: bool) -> tuple[int, list[str]]:
    """(prompt_tokens, words to answer with)."""
    if not chat:
        prompt = str(body.get("prompt", ""))
        return len(prompt.split()), prompt.split() or ["fake"]
    messages = body.get("messages") or []
    used = sum(_count_words(m.get("content")) for m in messages)
    user = [m.get("content") for m in messages if m.get("role") == "user"]
    last = user[-1] if user and isinstance(user[-1], str) else ""
    return used, last.split() or ["fake"]


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
            if body.get("stream"):
                return await self._stream(request, reply)
            self.counts["served"] += 1
            return web.json_response(reply.whole())
        finally:
            self.in_flight -= 1

    async def _stream(self, request: web.Request, reply: "Reply") -> web.StreamResponse:
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


class Reply:
    """The deterministic answer to one request, as whole objects or stream chunks."""

    def __init__(self, config: FakeConfig, body: Mapping[str, Any], chat: bool) -> None:
        self.chat = chat
        self.n = int(body.get("n") or 1)
        self.prompt_tokens, words = _prompt_words(body, chat)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        self.words = words[:limit] if limit is not None else words
        self.finish = "length" if len(self.words) < len(words) else "stop"
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        self.include_usage = bool(wants_usage) and not config.no_usage
        # A named tool_choice is answered with a call to it, arguments echoing the words.
        named = (body.get("tool_choice") or {}) if chat else {}
        self.tool = named.get("function", {}).get("name") if isinstance(named, dict) else None
        if self.tool:
            self.finish = "tool_calls"
        kind = "chat.completion" if chat else "text_completion"
        self.head: dict[str, Any] = {"id": f"fake-{uuid.uuid4().hex[:12]}", "object": kind}
        self.head.update(created=int(time.time()), model=config.model)

    def usage(self) -> dict[str, int]:
        completion = len(self.words) * self.n
        total = self.prompt_tokens + completion
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": total}  # fmt: skip

    def _choice(self, index: int, text: str, finish: str | None, first: bool) -> dict[str, Any]:
        if self.tool:
            return self._tool_choice(index, text, finish, first)
        if not self.chat:
            return {"index": index, "text": text, "finish_reason": finish, "logprobs": None}
        delta = {"role": "assistant", "content": text} if first else {"content": text}
        return {"index": index, "delta": delta if text or first else {}, "finish_reason": finish}

    def _tool_choice(self, index: int, text: str, finish: str | None, first: bool
                     ) -> dict[str, Any]:  # fmt: skip
        """Streams ``{"words": "<the words>"}`` as argument fragments of one call."""
        fragment = '{"words": "' + text.strip() if first else text
        call: dict[str, Any] = {"index": 0, "function": {"arguments": fragment}}
        if first:
            call |= {"id": f"call_{index}", "type": "function"}
            call["function"]["name"] = self.tool
        if finish:
            call["function"]["arguments"] = '"}'
        return {"index": index, "delta": {"tool_calls": [call]}, "finish_reason": finish}

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {**self.head, "choices": choices}
        if self.chat:
            chunk["object"] = "chat.completion.chunk"
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def events(self) -> list[list[dict[str, Any]]]:
        """Per word position: one chunk per choice; then one finishing chunk per choice."""
        steps = [
            [self._chunk([self._choice(i, (" " if p else "") + w, None, p == 0)])
             for i in range(self.n)]
            for p, w in enumerate(self.words)
        ]  # fmt: skip
        steps.append(
            [self._chunk([self._choice(i, "", self.finish, False)]) for i in range(self.n)]
        )
        return steps

    def usage_chunk(self) -> dict[str, Any]:
        return {**self._chunk([]), "usage": self.usage()}

    def whole(self) -> dict[str, Any]:
        text = " ".join(self.words)
        if self.chat:
            message = {"role": "assistant", "content": text}
            choices = [{"index": i, "message": message, "finish_reason": self.finish}
                       for i in range(self.n)]  # fmt: skip
        else:
            choices = [{"index": i, "text": text, "finish_reason": self.finish, "logprobs": None}
                       for i in range(self.n)]  # fmt: skip
        return {**self.head, "choices": choices, "usage": self.usage()}


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
    parser = argparse.ArgumentParser(prog="python -m tests.fake_provider")
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
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    try:
        asyncio.run(serve(FakeConfig(**args), host, port))
    except KeyboardInterrupt:
        sys.exit(0)
