"""One JSON line per request that was served (logger ``switchboard.requests``): request
id, key name (never the key), model, route, outcome, TTFT, end-to-end latency and token
counts. Never the prompt or the answer. Refusals are logged by ``router.decision_log``.

In a Ray Serve replica both loggers write bare JSON lines to the process's own stderr,
which Ray keeps in the replica's worker log files (and streams to ``switchboard serve``'s
terminal). Not through ``sys.stderr``: Serve replaces it with a logger that walks the
caller's stack for each write, a tenth of the request's CPU on the hot path
(``bench/profile_hot_path.py``).
"""

import json
import logging
import sys

from serving.engine import Usage

logger = logging.getLogger("switchboard.requests")


def log_served(
    *,
    request_id: str,
    key: str | None,
    model: str,
    route: str,
    outcome: str,
    ttft_s: float,
    e2e_s: float,
    usage: Usage | None,
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    record = {
        "request_id": request_id,
        "key": key,
        "model": model,
        "route": route,
        "outcome": outcome,
        "ttft_ms": round(ttft_s * 1000, 2),
        "e2e_ms": round(e2e_s * 1000, 2),
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }
    logger.info(json.dumps(record))


def emit_json_lines() -> None:
    """Send the ``switchboard.*`` log lines, bare, to stderr at INFO (in a replica, where
    nothing else would show them)."""
    parent = logging.getLogger("switchboard")
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    parent.handlers = [handler]
    parent.setLevel(logging.INFO)
    parent.propagate = False
