"""An external provider's errors, read: an OpenAI error body or a mid-stream error event
becomes an ``UpstreamError`` carrying the provider's error fields, and a ``Retry-After``
header a bounded wait."""

import email.utils
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from serving.errors import UpstreamError
from serving.provider_events import encodable

EXCERPT_CHARS = 500
MAX_RETRY_AFTER_S = 300.0


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or
    an HTTP-date), within [0, ``MAX_RETRY_AFTER_S``]; None when absent or unreadable."""
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            seconds = float(millis) / 1000
        elif (value := headers.get("Retry-After")) is None:
            return None
        elif value.strip().replace(".", "", 1).isdigit():
            seconds = float(value)
        else:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:  # an HTTP-date is GMT by definition
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
    except (ValueError, TypeError, OverflowError):
        return None
    if math.isnan(seconds):
        return None
    # A provider's hint, not an order: an absurd one must not keep it out for a century.
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def error_object(text: str) -> dict[str, Any] | None:
    """The ``error`` member of an OpenAI error body, or None if the body is not one."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def upstream_error(
    status: int, error: Mapping[str, Any], retry_after: float | None = None
) -> UpstreamError:
    code = error.get("code")
    return UpstreamError(
        status,
        str(error.get("message") or "")[:EXCERPT_CHARS],
        str(error["type"]) if error.get("type") is not None else None,
        str(code) if code is not None else None,
        retry_after,
    )


def stream_error(error: Mapping[str, Any], redact: Callable[[str], str]) -> UpstreamError:
    # The HTTP status was already 200. Some servers (vLLM) put the real status in a
    # numeric ``code``; otherwise 502 says the upstream failed mid-response.
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code <= 599 else 502
    message = encodable(redact(str(error.get("message") or "upstream error mid-stream")))
    return upstream_error(status, {**error, "message": message})
