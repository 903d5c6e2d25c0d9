"""The engine for an external OpenAI-compatible provider: a streaming HTTP pass-through.

Requests always stream upstream (``stream_options.include_usage``), so the router gets
tokens as they come and the exact usage the provider bills. Upstream refusals (4xx)
become ``UpstreamError`` carrying the provider's OpenAI error fields; an unreachable,
failing (5xx) or silent provider becomes ``EngineUnavailable``, which the router treats
like any unavailable engine.
"""

import asyncio
import contextlib
import email.utils
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

import aiohttp

from serving.config import ExternalProviderConfig
from serving.engine import (
    ChatPrompt,
    ChoiceDelta,
    EngineStats,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    SamplingOptions,
    ToolCallDelta,
    Usage,
)
from serving.errors import EngineOverloaded, EngineUnavailable, UpstreamError
from serving.sse import SSEDecoder

logger = logging.getLogger(__name__)

_EXCERPT_CHARS = 500
_ERROR_BODY_BYTES = 64 * 1024  # enough for any error object; a runaway body is cut


def _jsonable(value: object) -> object:
    # Messages are Mappings (possibly read-only proxies) and tuples: make them JSON.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _payload(request: GenerationRequest, model: str) -> dict[str, Any]:
    options: SamplingOptions = request.sampling
    payload: dict[str, Any] = {"model": model, "stream": True}
    if isinstance(request.prompt, ChatPrompt):
        payload["messages"] = request.prompt.messages
    else:
        payload["prompt"] = request.prompt.text
    payload["stream_options"] = {"include_usage": True}
    # max_tokens rather than max_completion_tokens: every OpenAI-compatible server knows it.
    if options.max_tokens is not None:
        payload["max_tokens"] = options.max_tokens
    payload.update(temperature=options.temperature, top_p=options.top_p, n=options.n)
    if options.seed is not None:
        payload["seed"] = options.seed
    if options.stop:
        payload["stop"] = list(options.stop)
    return payload | _constraints(request)


def _constraints(request: GenerationRequest) -> dict[str, Any]:
    """Tools and JSON output, passed through in the OpenAI shape."""
    fields: dict[str, Any] = {}
    if request.tool_use is not None:
        name = request.tool_use.choice
        choice: str | dict[str, Any] = name
        if name not in ("none", "auto", "required"):
            choice = {"type": "function", "function": {"name": name}}
        fields |= {"tools": list(request.tool_use.tools), "tool_choice": choice}
    if request.json_output is not None:
        schema = request.json_output.schema
        fields["response_format"] = (
            {"type": "json_object"}
            if schema is None
            else {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        )
    return fields


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or
    an HTTP-date); None when absent or unreadable."""
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(millis) / 1000)
        if (value := headers.get("Retry-After")) is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        when = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _finish(reason: object) -> FinishReason | None:
    # content_filter and the like end the choice normally: they map to "stop".
    if reason == "length" or reason == "tool_calls":
        return reason
    return None if reason is None else "stop"


def _deltas(event: Mapping[str, Any]) -> tuple[ChoiceDelta, ...]:
    """The deltas of one stream event (chat: ``delta.content`` and ``delta.tool_calls``;
    completions: ``text``); role-only and empty deltas are dropped."""
    deltas = []
    for choice in event.get("choices") or ():
        delta = choice.get("delta") or {}
        text = delta.get("content") if "delta" in choice else choice.get("text")
        calls = tuple(_tool_call(fragment) for fragment in delta.get("tool_calls") or ())
        finish = _finish(choice.get("finish_reason"))
        if text or calls or finish is not None:
            index = int(choice.get("index", 0))
            deltas.append(ChoiceDelta(index, text or "", finish, tool_calls=calls))
    return tuple(deltas)


def _tool_call(fragment: Mapping[str, Any]) -> ToolCallDelta:
    function = fragment.get("function") or {}
    return ToolCallDelta(
        index=int(fragment.get("index", 0)),
        id=fragment.get("id"),
        name=function.get("name"),
        arguments=function.get("arguments") or "",
    )


class ExternalEngine:
    """Relays generations to an OpenAI-compatible ``base_url`` (ending in ``/v1``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        upstream_model: str,
        config: ExternalProviderConfig,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.upstream_model = upstream_model
        self.config = config
        self._api_key = api_key  # never logged: every upstream text goes through _redact
        self._session: aiohttp.ClientSession | None = None
        self._running = 0
        self._closed = False

    @classmethod
    def from_env(cls, config: ExternalProviderConfig, environ: Mapping[str, str]) -> Self | None:
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
                json_serialize=lambda obj: json.dumps(obj, default=_jsonable),
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
            response = await self._post(request)
            try:
                # aclosing: an early exit closes the inner generators now, not at GC.
                async with contextlib.aclosing(self._relay(response, request)) as chunks:
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
                response = await session.post(
                    f"{self.base_url}/{route}", json=_payload(request, self.upstream_model)
                )
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
                f"upstream provider answered {response.status}: {text[:_EXCERPT_CHARS]}"
            )
        error = _error_object(text)
        retry_after = parse_retry_after(response.headers)
        if error is None:
            return UpstreamError(response.status, text[:_EXCERPT_CHARS], retry_after=retry_after)
        return _upstream_error(response.status, error, retry_after)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        timeouts = self.config.timeouts
        try:
            async with asyncio.timeout(timeouts.idle_s):
                return await response.content.readany()
        except TimeoutError as exc:
            raise EngineUnavailable(
                f"idle timeout ({timeouts.idle_s} s) between streamed chunks"
            ) from exc
        except aiohttp.ClientError as exc:
            raise EngineUnavailable(self._redact(f"upstream stream broke: {exc}")) from exc

    async def _events(
        self, response: aiohttp.ClientResponse
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The JSON events of the stream up to ``[DONE]``; an error event raises."""
        decoder = SSEDecoder()
        while True:
            data = await self._read(response)
            payloads = decoder.feed(data) if data else decoder.close()
            for payload in payloads:
                if payload == "[DONE]":
                    return
                yield self._decode(payload)
            if not data:
                raise EngineUnavailable("upstream stream ended before [DONE]")

    def _decode(self, payload: str) -> dict[str, Any]:
        try:
            event = json.loads(payload)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            excerpt = self._redact(payload[:_EXCERPT_CHARS])
            raise EngineUnavailable(f"upstream sent an invalid stream event: {excerpt}")
        if isinstance(event.get("error"), dict):
            raise _stream_error(event["error"], self._redact)
        return event

    async def _relay(
        self, response: aiohttp.ClientResponse, request: GenerationRequest
    ) -> AsyncGenerator[GenerationChunk, None]:
        usage: Usage | None = None
        content_deltas = 0
        async with contextlib.aclosing(self._events(response)) as events:
            async for event in events:
                if isinstance(event.get("usage"), dict):
                    usage = Usage(
                        int(event["usage"].get("prompt_tokens", 0)),
                        int(event["usage"].get("completion_tokens", 0)),
                    )
                deltas = _deltas(event)
                content_deltas += sum(1 for delta in deltas if delta.text)
                if deltas:
                    yield GenerationChunk(deltas=deltas)
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


def _error_object(text: str) -> dict[str, Any] | None:
    """The ``error`` member of an OpenAI error body, or None if the body is not one."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _upstream_error(
    status: int, error: Mapping[str, Any], retry_after: float | None = None
) -> UpstreamError:
    code = error.get("code")
    return UpstreamError(
        status,
        str(error.get("message") or "")[:_EXCERPT_CHARS],
        str(error["type"]) if error.get("type") is not None else None,
        str(code) if code is not None else None,
        retry_after,
    )


def _stream_error(error: Mapping[str, Any], redact: Callable[[str], str]) -> UpstreamError:
    # The HTTP status was already 200. Some servers (vLLM) put the real status in a
    # numeric ``code``; otherwise 502 says the upstream failed mid-response.
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code <= 599 else 502
    message = redact(str(error.get("message") or "upstream error mid-stream"))
    return _upstream_error(status, {**error, "message": message})
