"""ASGI middleware that refuses request bodies over a size limit with a 413.

It checks ``Content-Length`` up front and also counts chunked bodies as they arrive, so
a client cannot bypass the limit by omitting the header.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.errors import PayloadTooLarge
from router.http.error_handlers import error_response


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            await self._refuse(scope, receive, send)
            return
        await self._app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self._max_bytes:
                raise PayloadTooLarge(self._message())
            return message

        return counted

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(PayloadTooLarge(self._message()))(scope, receive, send)

    def _message(self) -> str:
        return f"Request body is larger than the limit of {self._max_bytes} bytes."
