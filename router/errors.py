"""The closed set of errors a client can receive, rendered as the OpenAI error object.

Each class fixes the HTTP status, the OpenAI ``type`` and ``code``; ``error_payload`` is
the one renderer (used for JSON responses and mid-stream SSE error events). Anything
that is not an ``ApiError`` reaching the HTTP layer is a bug and becomes a logged 500.
"""

from typing import Any

from serving.errors import UpstreamError


class ApiError(Exception):
    # Class defaults; an instance may override them (an upstream's own 4xx does).
    status: int = 400
    error_type: str = "invalid_request_error"
    code: str | None = None

    def __init__(
        self, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}


class InvalidRequest(ApiError):
    pass


class ContextLengthExceededError(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationFailed(ApiError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(ApiError):
    """The key may not use this model (its policy or a routing rule says so)."""

    status = 403
    error_type = "permission_error"
    code = "model_not_allowed"


class ModelNotFound(ApiError):
    status = 404
    code = "model_not_found"


class RouteNotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Overloaded(ApiError):
    """Nothing can take the request now; ``Retry-After`` tells the client when to retry."""

    status = 429
    error_type = "rate_limit_error"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class RateLimited(Overloaded):
    """The key's own requests- or tokens-per-minute budget is spent."""

    code = "rate_limit_exceeded"


class ServiceUnavailable(ApiError):
    status = 503
    error_type = "server_error"
    code = "service_unavailable"


class GenerationTimeout(ServiceUnavailable):
    """The generation ran past ``router.request_timeout_s``: stopped, its slot freed."""

    code = "timeout"


class InternalError(ApiError):
    status = 500
    error_type = "server_error"
    code = "internal_error"


class UpstreamRejected(ApiError):
    """An external provider's 4xx, passed back to the client with the provider's status."""

    def __init__(self, upstream: UpstreamError) -> None:
        headers = {}
        self.retry_after_s = upstream.retry_after  # seconds, as the provider said
        if upstream.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(upstream.retry_after)))
        super().__init__(upstream.message, headers=headers)
        self.status = upstream.status
        self.error_type = upstream.error_type or "invalid_request_error"
        self.code = upstream.code


def error_payload(error: ApiError) -> dict[str, Any]:
    body = {"message": error.message, "type": error.error_type, "param": error.param}
    return {"error": {**body, "code": error.code}}
