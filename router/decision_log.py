"""One structured log line per routed request (logger ``switchboard.decisions``).

Holds the decision (chosen model, ranked alternatives with scores, exclusions with
reasons, estimate, knob, rules, time) and who asked (key name, never the key). Prompt
text only when ``router.log_prompts`` is on.
"""

import json
import logging

from router.auth import Caller
from router.classifier.text import routing_text
from router.routing.decision import Decision
from router.routing.facts import RequestFacts
from serving.engine import ChatPrompt

logger = logging.getLogger("switchboard.decisions")


def log_decision(
    request_id: str, caller: Caller, facts: RequestFacts, decision: Decision, log_prompts: bool
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    record = {
        "request_id": request_id,
        "key": caller.name,
        "requested": facts.requested_model,
        **decision.as_dict(),
    }
    if log_prompts:
        prompt = facts.generation.prompt
        record["prompt"] = (
            routing_text(prompt.messages) if isinstance(prompt, ChatPrompt) else prompt.text
        )
    logger.info(json.dumps(record, ensure_ascii=False))
