import pickle

import pytest

from router.errors import (
    ContextLengthExceededError,
    InternalError,
    InvalidRequest,
    Overloaded,
    ServiceUnavailable,
    UpstreamRejected,
    error_payload,
    from_engine_error,
)
from serving.errors import (
    ContextLengthExceeded,
    EngineError,
    EngineOverloaded,
    EngineUnavailable,
    InvalidPrompt,
    MaxTokensTooLarge,
    UpstreamError,
)


def test_payload_is_the_openai_error_object() -> None:
    error = InvalidRequest("bad stop", param="stop")
    assert error_payload(error) == {
        "error": {
            "message": "bad stop",
            "type": "invalid_request_error",
            "param": "stop",
            "code": None,
        }
    }


def test_context_length_names_the_numbers() -> None:
    api = from_engine_error(ContextLengthExceeded(9000, 100, 8192), "m")
    assert isinstance(api, ContextLengthExceededError)
    assert (api.status, api.code, api.param) == (400, "context_length_exceeded", "messages")
    assert "8192" in api.message and "9100" in api.message and "9000" in api.message


@pytest.mark.parametrize(
    ("engine_error", "status", "code"),
    [
        (MaxTokensTooLarge(5000, 2048), 400, None),
        (InvalidPrompt("template failed"), 400, None),
        (EngineOverloaded("queue full"), 429, "overloaded"),
        (EngineUnavailable("dead"), 503, "service_unavailable"),
        (UpstreamError(502, "bad gateway", None, None, None), 503, "service_unavailable"),
        (EngineError("unexpected"), 500, "internal_error"),
    ],
)
def test_engine_errors_map_to_statuses(
    engine_error: EngineError, status: int, code: str | None
) -> None:
    api = from_engine_error(engine_error, "m")
    assert (api.status, api.code) == (status, code)


def test_overloaded_carries_retry_after() -> None:
    api = from_engine_error(EngineOverloaded("full"), "m")
    assert isinstance(api, Overloaded)
    assert api.headers == {"Retry-After": "1"}


def test_upstream_4xx_is_passed_back_with_its_status() -> None:
    upstream = UpstreamError(429, "slow down", "rate_limit_error", "rate_limit_exceeded", 2.4)
    api = from_engine_error(upstream, "external")
    assert isinstance(api, UpstreamRejected)
    assert (api.status, api.error_type, api.code) == (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
    )
    assert api.headers == {"Retry-After": "2"}


@pytest.mark.parametrize(
    "error",
    [
        ContextLengthExceeded(1, 2, 3),
        MaxTokensTooLarge(5, 4),
        EngineOverloaded("x"),
        UpstreamError(400, "m", "t", "c", 1.0),
        InvalidPrompt("p"),
    ],
)
def test_engine_errors_survive_pickling(error: EngineError) -> None:
    """They cross Ray process boundaries; pickling replays the constructor args."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)


def test_server_side_errors_use_server_error_type() -> None:
    assert error_payload(ServiceUnavailable("x"))["error"]["type"] == "server_error"
    assert error_payload(InternalError("x"))["error"]["type"] == "server_error"
