"""A served request as an HTTP body: one JSON object, or SSE events ending in exactly one
``[DONE]``, with the stream closed and metered however the response ends."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from router.dispatch.failures import DispatchFailure
from router.error_mapping import client_error
from router.errors import InternalError
from router.http.responses import SSE_DONE, ApiShape, StreamRenderer, full_response, sse_error
from router.service import Served

logger = logging.getLogger(__name__)


async def whole_response(served: Served, shape: ApiShape) -> Response:
    primed, meter = served.primed, served.meter
    try:
        chunks = [meter.saw(chunk) async for chunk in primed.chunks()]
    except DispatchFailure as exc:
        meter.finish("stream_error")
        raise client_error(exc) from exc
    except asyncio.CancelledError:  # the client left before the whole answer
        meter.finish("cancelled")
        raise
    meter.finish("ok")
    payload = full_response(shape, primed.model_id, served.request_id, chunks)
    return JSONResponse(payload, headers=served.route)


def event_stream(served: Served, shape: ApiShape, include_usage: bool) -> Response:
    renderer = StreamRenderer(shape, served.primed.model_id, served.request_id, include_usage)
    return _ServedStreamingResponse(
        served, _sse(served, renderer), media_type="text/event-stream", headers=served.route
    )


class _ServedStreamingResponse(StreamingResponse):
    """Closes the generation however the response ends: Starlette does not close the
    body iterator when the client leaves, and the engine slot and the router's in-flight
    count must not wait for garbage collection. A stream that did not reach its end
    was abandoned by the client, and is metered as such."""

    def __init__(self, served: Served, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._served.meter.finish("cancelled")  # no-op when the stream already ended
            await self._served.primed.close()


async def _sse(served: Served, renderer: StreamRenderer) -> AsyncIterator[bytes]:
    """The SSE body: events, then exactly one ``[DONE]``; a failure after the first byte
    ends the stream with an OpenAI error event instead of a silent cut."""
    primed, meter = served.primed, served.meter
    try:
        async for chunk in primed.chunks():
            yield renderer.encode(meter.saw(chunk))
        meter.finish("ok")
    except DispatchFailure as exc:
        meter.finish("stream_error")
        yield sse_error(client_error(exc))
    except Exception:  # a bug; the status line is already sent, so say it in-band
        logger.exception("stream %s failed", primed.model_id)
        meter.finish("stream_error")
        yield sse_error(InternalError("The server failed while streaming the response."))
    yield SSE_DONE
