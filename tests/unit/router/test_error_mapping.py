"""How the router's own failures become the client's errors: an engine's error within a
failed dispatch, nothing free, a passed deadline, and each kind of routing refusal."""

from typing import get_args

import pytest

from router.dispatch.failures import DeadlinePassed, EngineFailure, NothingFree, Skipped
from router.error_mapping import client_error, limit_error, refusal_error
from router.errors import (
    ContextLengthExceededError,
    GenerationTimeout,
    Overloaded,
    RateLimited,
    ServiceUnavailable,
    UpstreamRejected,
)
from router.load.rate_limit import OverKeyLimit
from router.routing.refusal import Refusal, RefusalKind
from serving.errors import (
    ContextLengthExceeded,
    EngineError,
    EngineOverloaded,
    EngineUnavailable,
    InvalidPrompt,
    MaxTokensTooLarge,
    UpstreamError,
)


def test_context_length_names_the_numbers() -> None:
    api = client_error(EngineFailure("m", ContextLengthExceeded(9000, 100, 8192)))
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
    api = client_error(EngineFailure("m", engine_error))
    assert (api.status, api.code) == (status, code)


def test_overloaded_carries_retry_after() -> None:
    api = client_error(EngineFailure("m", EngineOverloaded("full")))
    assert isinstance(api, Overloaded)
    assert api.headers == {"Retry-After": "1"}


def test_upstream_4xx_is_passed_back_with_its_status() -> None:
    upstream = UpstreamError(429, "slow down", "rate_limit_error", "rate_limit_exceeded", 2.4)
    api = client_error(EngineFailure("external", upstream))
    assert isinstance(api, UpstreamRejected)
    assert (api.status, api.error_type, api.code) == (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
    )
    assert api.headers == {"Retry-After": "2"}


REFUSALS = [  # kind -> status, type, code: the responses routing's refusals always had
    ("invalid", 400, "invalid_request_error", None),
    ("too_long", 400, "invalid_request_error", "context_length_exceeded"),
    ("forbidden", 403, "permission_error", "model_not_allowed"),
    ("not_found", 404, "invalid_request_error", "model_not_found"),
    ("unavailable", 503, "server_error", "service_unavailable"),
]


@pytest.mark.parametrize(("kind", "status", "error_type", "code"), REFUSALS)
def test_each_refusal_kind_is_one_client_error(
    kind: RefusalKind, status: int, error_type: str, code: str | None
) -> None:
    api = refusal_error(Refusal("some_filter", kind, "Not here.", param="model"))
    assert (api.status, api.error_type, api.code) == (status, error_type, code)
    assert (api.message, api.param) == ("Not here.", "model")


def test_every_refusal_kind_is_mapped() -> None:
    assert [kind for kind, *_ in REFUSALS] == list(get_args(RefusalKind))


def test_nothing_free_is_a_429_when_busy_and_a_503_when_all_down() -> None:
    busy = NothingFree((Skipped("a", "queue"), Skipped("b", "circuit_open")), retry_after_s=1)
    down = NothingFree((Skipped("a", "unavailable"), Skipped("b", "circuit_open")), 2)
    assert isinstance(client_error(busy), Overloaded)
    assert client_error(busy).headers == {"Retry-After": "1"}
    assert "a: queue, b: circuit_open" in client_error(busy).message
    refused = client_error(down)
    assert type(refused) is ServiceUnavailable and refused.headers == {"Retry-After": "2"}


def test_a_passed_deadline_is_a_503_timeout() -> None:
    timeout = client_error(DeadlinePassed())
    assert isinstance(timeout, GenerationTimeout) and timeout.status == 503


def test_a_key_over_its_limit_is_a_429_retrying_when_the_request_fits() -> None:
    error = limit_error(OverKeyLimit("team", 29.2))
    assert isinstance(error, RateLimited) and error.code == "rate_limit_exceeded"
    assert error.headers == {"Retry-After": "30"}
    assert error.message == "Rate limit of key 'team' reached; retry in 29.2 s."
    assert limit_error(OverKeyLimit("team", 0.01)).headers == {"Retry-After": "1"}
