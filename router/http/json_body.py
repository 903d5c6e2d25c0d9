"""Request bodies parsed by pydantic's JSON parser (jiter) instead of the stdlib's.

``json.loads`` accepts what the rest of the stack cannot carry: a lone surrogate
(``"\\ud800"``) is a valid JSON escape but no UTF-8 encoder takes it, so it fails later
in a tokenizer or a response; a body nested thousands deep raises ``RecursionError``,
and one a few hundred deep fails to pickle across Ray. jiter refuses both while parsing
(lone surrogates, and more than ``MAX_JSON_DEPTH`` levels), so every string and every
structure past this point is one the stack can encode, pickle and render, and the client
gets a 400 that says what was wrong.
"""

from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.routing import APIRoute

from router.errors import InvalidRequest

MAX_JSON_DEPTH = 200  # jiter's fixed recursion limit


def parse_json(data: bytes | str, what: str) -> Any:
    """``data`` parsed, or ``InvalidRequest`` naming ``what`` and the parser's reason."""
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise InvalidRequest(f"We could not parse {what} as JSON: {exc}.") from exc


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body(), "the body of your request")
        return self._json


class StrictJsonRoute(APIRoute):
    """An ``APIRoute`` whose JSON bodies go through ``parse_json``. FastAPI turns what
    ``Request.json`` raises into an HTTP 400 whose cause is our ``InvalidRequest``, which
    ``error_handlers`` renders."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict
