"""How the router's own failures become the client's errors, in one place: a routing
refusal (``router.routing.refusal``), a key over its rate limit (``router.load``), a
failed dispatch (``router.dispatch.failures``) and, within it, an engine's error
(``serving.errors``). The service calls it where a request fails before its first
chunk, the stream renderer where it fails after."""

import math
from collections.abc import Iterator
from contextlib import contextmanager

from router.dispatch.failures import DispatchFailure, EngineFailure, NothingFree
from router.errors import (
    ApiError,
    ContextLengthExceededError,
    GenerationTimeout,
    InternalError,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    UpstreamRejected,
)
from router.load.rate_limit import OverKeyLimit
from router.routing.refusal import Refusal, RoutingRefused
from serving.errors import (
    ContextLengthExceeded,
    EngineError,
    EngineOverloaded,
    EngineUnavailable,
    InputTooLong,
    InvalidPrompt,
    MaxTokensTooLarge,
    UnsupportedFeature,
    UpstreamError,
)


def engine_error(error: EngineError, model_id: str, prompt: str = "messages") -> ApiError:
    """What an engine raised, for the client (one place for all engines); ``prompt``: the
    request field that holds what the model reads."""
    if isinstance(error, ContextLengthExceeded | InputTooLong):
        return ContextLengthExceededError(str(error), param=prompt)
    if isinstance(error, MaxTokensTooLarge):
        return InvalidRequest(str(error), param="max_tokens")
    if isinstance(error, EngineOverloaded):
        return Overloaded(f"Model {model_id!r} is at capacity; retry shortly.")
    if isinstance(error, UnsupportedFeature):
        return InvalidRequest(f"Model {model_id!r}: {error}", param=error.param)
    if isinstance(error, InvalidPrompt):
        return InvalidRequest(str(error), param=prompt)
    if isinstance(error, UpstreamError) and 400 <= error.status < 500:
        return UpstreamRejected(error)
    if isinstance(error, EngineUnavailable | UpstreamError):
        return ServiceUnavailable(f"model {model_id!r} is unavailable: {error}")
    return InternalError(f"model {model_id!r} failed: {type(error).__name__}")


def client_error(failure: DispatchFailure) -> ApiError:
    """What the client hears when a dispatch fails, before or after the first chunk."""
    if isinstance(failure, EngineFailure):
        return engine_error(failure.error, failure.model_id)
    if not isinstance(failure, NothingFree):  # DeadlinePassed
        return GenerationTimeout("The generation ran past the request timeout and was stopped.")
    if failure.all_down:  # down, not busy: say so
        return ServiceUnavailable(
            f"No model is available for this request ({failure.reasons()}).",
            headers={"Retry-After": str(failure.retry_after_s)},
        )
    return Overloaded(
        f"No model can take this request now ({failure.reasons()}).",
        retry_after_s=failure.retry_after_s,
    )


def refusal_error(refusal: Refusal) -> ApiError:
    """What the client hears when routing refuses a request (the kind picks the class)."""
    error = {
        "invalid": InvalidRequest,
        "too_long": ContextLengthExceededError,
        "forbidden": PermissionDenied,
        "not_found": ModelNotFound,
        "unavailable": ServiceUnavailable,
    }[refusal.kind]
    return error(refusal.message, param=refusal.param)


def limit_error(over: OverKeyLimit) -> ApiError:
    """A key over its own rate limit: 429, retry when the request would fit."""
    return RateLimited(
        f"Rate limit of key {over.key!r} reached; retry in {over.wait_s:.1f} s.",
        retry_after_s=max(1, math.ceil(over.wait_s)),
    )


@contextmanager
def as_client_error() -> Iterator[None]:
    """Routing and the key's limits refuse in their own terms; the services' callers, their
    logs and metrics hear the client's error."""
    try:
        yield
    except RoutingRefused as exc:
        raise refusal_error(exc.refusal) from exc
    except OverKeyLimit as exc:
        raise limit_error(exc) from exc
