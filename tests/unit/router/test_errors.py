import pickle

import pytest

from router.errors import (
    InternalError,
    InvalidRequest,
    ServiceUnavailable,
    error_payload,
)
from serving.errors import (
    ContextLengthExceeded,
    EngineError,
    EngineOverloaded,
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
