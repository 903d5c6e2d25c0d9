"""The one place that maps exceptions to HTTP responses with the OpenAI error object."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from router.errors import (
    ApiError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
    error_payload,
)

logger = logging.getLogger(__name__)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_payload(error), status_code=error.status, headers=error.headers)


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    """FastAPI's 422 becomes a 400 naming the first bad field, never a raw pydantic dump."""
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return InvalidRequest("We could not parse the JSON body of your request.")
    param = ".".join(loc) or None
    where = f"'{param}': " if param else ""
    message = f"Invalid request body: {where}{first.get('msg', 'invalid value')}"
    return InvalidRequest(message, param=param)


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if isinstance(exc.__cause__, ApiError):  # e.g. the body limit, raised mid-read
            return error_response(exc.__cause__)
        if exc.status_code == 404:
            return error_response(RouteNotFound(f"Unknown path {request.url.path}."))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"{request.method} is not allowed here."))
        error = ApiError(str(exc.detail))
        error.status = exc.status_code
        return error_response(error)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(InternalError("The server had an error processing the request."))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_bug)
