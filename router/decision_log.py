"""One structured log line per routed request (logger ``switchboard.decisions``).

Holds the decision (chosen model, ranked alternatives with scores, exclusions with
reasons, estimate, knob, rules, time) and who asked (key name, never the key). Prompt
text only when ``router.log_prompts`` is on.
"""

import json
import logging
from typing import Any

from router.auth import Caller
from router.dispatch.dispatcher import Dispatched
from router.dispatch.failures import Skipped
from router.errors import ApiError
from router.routing.decision import Decision
from router.routing.facts import RequestFacts

logger = logging.getLogger("switchboard.decisions")


def log_decision(
    request_id: str,
    caller: Caller,
    facts: RequestFacts,
    decision: Decision,
    log_prompts: bool,
    outcome: Dispatched | ApiError,
) -> None:
    """``outcome``: where the request went, or the error the dispatcher answered."""
    if not logger.isEnabledFor(logging.INFO):
        return
    record = {**_head(request_id, caller, facts.requested_model), **decision.as_dict()}
    if isinstance(outcome, ApiError):
        record["served_by"], record["refused"] = None, outcome.code or outcome.error_type
        skipped: tuple[Skipped, ...] = ()
    else:
        record["served_by"], skipped = outcome.primed.model_id, outcome.skipped
    record["skipped"] = [{"model": s.model_id, "reason": s.reason} for s in skipped]
    if log_prompts:
        record["prompt"] = facts.routing_text()
    logger.info(json.dumps(record, ensure_ascii=False))


def log_refusal(request_id: str, caller: Caller, requested: str, error: ApiError) -> None:
    """A request refused before dispatch (a header the router cannot read, the key's
    limits, no model passed the filters, an unknown model...); ``requested``: the model
    the client asked for."""
    if not logger.isEnabledFor(logging.INFO):
        return
    record = {
        **_head(request_id, caller, requested),
        "refused": error.code or error.error_type,
        "status": error.status,
        "detail": error.message,
    }
    logger.info(json.dumps(record, ensure_ascii=False))


def _head(request_id: str, caller: Caller, requested: str) -> dict[str, Any]:
    """Who asked for what: the fields every decision-log line starts with."""
    return {"request_id": request_id, "key": caller.name, "requested": requested}
