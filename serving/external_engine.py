"""The engine for an external OpenAI-compatible provider: a streaming HTTP pass-through.

Requests always stream upstream (``stream_options.include_usage``), so the router gets
tokens as they come and the exact usage the provider bills. Upstream refusals (4xx)
become ``UpstreamError`` carrying the provider's OpenAI error fields; an unreachable,
failing (5xx) or silent provider becomes ``EngineUnavailable``, which the router treats
like any unavailable engine.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Self

import aiohttp

from serving.config import ExternalTimeouts, ProviderEngineConfig
from serving.engine import ChatPrompt, EngineStats, GenerationChunk, GenerationRequest, Usage
from serving.errors import EngineOverloaded, EngineUnavailable, UpstreamError
from serving.provider_errors import (
    EXCERPT_CHARS,
    error_object,
    parse_retry_after,
    stream_error,
    upstream_error,
)
from serving.provider_events import ChoiceReader, StreamEvent, parse_event, usage_of
from serving.provider_request import jsonable, request_payload
from serving.sse import EventTooLarge, SSEDecoder

logger = logging.getLogger(__name__)

_ERROR_BODY_BYTES = 64 * 1024  # enough for any error object; a runaway body is cut


class ExternalEngine:
    """Relays generations to an OpenAI-compatible ``base_url`` (ending in ``/v1``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        upstream_model: str,
        config: ProviderEngineConfig,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.upstream_model = upstream_model
        self.config = config
        self._api_key = api_key  # never logged: every upstream text goes through _redact
        self._session: aiohttp.ClientSession | None = None
        self._running = 0
        self._closed = False

    @classmethod
    def from_env(cls, config: ProviderEngineConfig, environ: Mapping[str, str]) -> Self | None:
        """The engine for ``config``, or None when its base-URL env var is unset (off)."""
        base_url = config.base_url(environ)
        if base_url is None:
            return None
        model = environ.get(config.model_env, "").strip()
        if not model:
            raise ValueError(
                f"external provider {config.id!r}: {config.base_url_env} is set but "
                f"{config.model_env} is not; set it to the provider's model name"
            )
        api_key = environ.get(config.api_key_env, "").strip() or None
        return cls(base_url, api_key, model, config)

    def __repr__(self) -> str:
        return f"ExternalEngine({self.base_url!r}, model={self.upstream_model!r})"

    async def stats(self) -> EngineStats:
        return EngineStats(timestamp=time.time(), running=self._running, waiting=0)

    async def check_health(self) -> None:
        # No network call: the provider's health is judged from request outcomes.
        if self._closed:
            raise EngineUnavailable("external engine is closed")

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise EngineUnavailable("external engine is closed")
        if self._session is None:
            # Created lazily so it binds to the running loop (a Ray replica's), not the
            # loop, if any, that built the engine.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.timeouts.connect_s)
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.max_concurrency),
                timeout=timeout,
                headers=headers,
                json_serialize=lambda obj: json.dumps(obj, default=jsonable),
            )
        return self._session

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        if self._running >= self.config.max_concurrency:
            # Refuse at once rather than wait for a connection slot: the router can
            # send the request elsewhere, or answer 429, within milliseconds.
            raise EngineOverloaded(
                f"{self.config.max_concurrency} requests already in flight to the provider"
            )
        self._running += 1
        try:
            deadlines = _Deadlines.starting_now(self.config.timeouts)
            response = await self._post(request)
            try:
                # aclosing: an early exit closes the inner generators now, not at GC.
                relay = self._relay(response, request, deadlines)
                async with contextlib.aclosing(relay) as chunks:
                    async for chunk in chunks:
                        yield chunk
            finally:
                # An early exit (consumer gone, error) drops the connection rather than
                # reading the rest of the stream; a finished stream is already released.
                response.close()
        finally:
            self._running -= 1

    async def _post(self, request: GenerationRequest) -> aiohttp.ClientResponse:
        """Send the request and return the response once its headers are in (status OK)."""
        route = "chat/completions" if isinstance(request.prompt, ChatPrompt) else "completions"
        session = self._get_session()
        timeouts = self.config.timeouts
        try:
            # The first-byte budget counts from the request start, connection included.
            async with asyncio.timeout(timeouts.first_byte_s):
                payload = request_payload(
                    request, self.upstream_model, self.config.max_tokens_field
                )
                response = await session.post(f"{self.base_url}/{route}", json=payload)
        except aiohttp.ConnectionTimeoutError as exc:
            raise EngineUnavailable(
                f"connect timeout ({timeouts.connect_s} s) to the upstream provider"
            ) from exc
        except TimeoutError as exc:
            raise EngineUnavailable(
                f"first-byte timeout ({timeouts.first_byte_s} s): no response headers"
            ) from exc
        except aiohttp.ClientError as exc:
            raise EngineUnavailable(self._redact(f"upstream provider unreachable: {exc}")) from exc
        if response.status >= 400:
            try:
                raise await self._status_error(response)
            finally:
                response.close()
        return response

    async def _status_error(
        self, response: aiohttp.ClientResponse
    ) -> EngineUnavailable | UpstreamError:
        try:
            async with asyncio.timeout(self.config.timeouts.idle_s):
                body = await response.content.read(_ERROR_BODY_BYTES)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        text = self._redact(body.decode("utf-8", errors="replace"))
        if response.status >= 500:
            return EngineUnavailable(
                f"upstream provider answered {response.status}: {text[:EXCERPT_CHARS]}"
            )
        error = error_object(text)
        retry_after = parse_retry_after(response.headers)
        if error is None:
            return UpstreamError(response.status, text[:EXCERPT_CHARS], retry_after=retry_after)
        return upstream_error(response.status, error, retry_after)

    async def _read(self, response: aiohttp.ClientResponse, deadlines: "_Deadlines") -> bytes:
        idle_s = self.config.timeouts.idle_s
        idle_at = asyncio.get_running_loop().time() + idle_s
        deadline, missed = deadlines.next()
        try:
            async with asyncio.timeout_at(min(idle_at, deadline)):
                return await response.content.readany()
        except TimeoutError as exc:
            reason = f"idle timeout ({idle_s} s) between streamed chunks"
            raise EngineUnavailable(reason if idle_at < deadline else missed) from exc
        except aiohttp.ClientError as exc:
            raise EngineUnavailable(self._redact(f"upstream stream broke: {exc}")) from exc

    async def _events(
        self, response: aiohttp.ClientResponse, deadlines: "_Deadlines"
    ) -> AsyncGenerator[StreamEvent, None]:
        """The events of the stream up to ``[DONE]``; an error event raises."""
        decoder = SSEDecoder()
        while True:
            data = await self._read(response, deadlines)
            try:
                payloads = decoder.feed(data) if data else decoder.close()
            except EventTooLarge as exc:
                raise EngineUnavailable(f"upstream stream broke: {exc}") from exc
            for payload in payloads:
                if payload == "[DONE]":
                    return
                event = parse_event(payload, self._redact)
                if event.error is not None:
                    raise stream_error(event.error, self._redact)
                yield event
            if not data:
                raise EngineUnavailable("upstream stream ended before [DONE]")

    async def _relay(
        self, response: aiohttp.ClientResponse, request: GenerationRequest, deadlines: "_Deadlines"
    ) -> AsyncGenerator[GenerationChunk, None]:
        usage: Usage | None = None
        content_deltas = 0
        reader = ChoiceReader()
        async with contextlib.aclosing(self._events(response, deadlines)) as events:
            async for event in events:
                usage = usage_of(event) or usage
                deltas = reader.deltas(event)
                content_deltas += sum(1 for delta in deltas if delta.text)
                if deltas:
                    deadlines.answered = True  # keep-alives and role-only chunks do not count
                    yield GenerationChunk(deltas=deltas)
        if not deadlines.answered:
            raise EngineUnavailable("upstream stream ended without any choice")
        if usage is None:
            # The final chunk must carry usage, but this provider ignored include_usage.
            # Without its tokenizer we cannot count exactly: report each content delta as
            # one completion token (streams send about one token per delta) and no prompt.
            logger.warning(
                "upstream %s sent no usage for request %s; estimating from deltas",
                self.base_url,
                request.request_id,
            )
            usage = Usage(prompt_tokens=0, completion_tokens=content_deltas)
        yield GenerationChunk(usage=usage)


@dataclass
class _Deadlines:
    """A stream's two deadlines on the loop clock: its first token (content, a tool call
    or a finish; keep-alive comments and role-only chunks do not count), then its end.
    Without them a provider that keeps the connection busy without answering would hold
    the request, its slot, and a half-open probe, forever."""

    first_token_at: float
    end_at: float
    timeouts: ExternalTimeouts
    answered: bool = False

    @classmethod
    def starting_now(cls, timeouts: ExternalTimeouts) -> Self:
        now = asyncio.get_running_loop().time()
        return cls(now + timeouts.first_token_s, now + timeouts.total_s, timeouts)

    def next(self) -> tuple[float, str]:
        """The deadline that applies now, and what missing it means."""
        if not self.answered and self.first_token_at < self.end_at:
            return self.first_token_at, f"first-token timeout ({self.timeouts.first_token_s} s)"
        return self.end_at, f"total timeout ({self.timeouts.total_s} s) for the whole answer"
