"""RequestFieldsFilter: a local model is chosen only if it honours every field the request
sets.

Inputs: the sampling adjustments set away from their neutral value
(``SamplingOptions.adjustments``: penalties, ``top_k``, ``min_p``) and the fields nothing
here models (``GenerationRequest.passthrough``: ``logit_bias``, ``reasoning_effort``,
...). A local model honours the adjustments its engine lists (``serving.engines``) and,
of the unmodelled fields, those that change nothing in the answer it gives: a hosted
API's storage, tier and cache options (``ANSWER_NEUTRAL``), and values that ask for what
it does anyway (``NEUTRAL_VALUES``). An external provider is sent all of them unchanged,
so it is never excluded here; what it does not know, its own 400 says.
Trade-off: an unmodelled field rules local models out rather than being ignored: a
client that set it expects its effect, and a pinned local model answers a 400 naming it.
"""

from typing import Any

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget

ANSWER_NEUTRAL = frozenset({"store", "service_tier", "prompt_cache_key", "safety_identifier"})
NEUTRAL_VALUES: dict[str, Any] = {"logit_bias": {}, "modalities": ["text"]}


class RequestFieldsFilter:
    reason = "request_fields"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        if target.external:
            return None
        request = facts.generation
        unhonoured = sorted(
            [name for name in request.sampling.adjustments() if name not in target.adjustments]
            + [name for name, value in request.passthrough.items() if not _neutral(name, value)]
        )
        if not unhonoured:
            return None
        message = f"Model {target.id!r} does not support `{unhonoured[0]}`."
        return Refusal(self.reason, "invalid", message, param=unhonoured[0])


def _neutral(name: str, value: Any) -> bool:
    return name in ANSWER_NEUTRAL or (name in NEUTRAL_VALUES and value == NEUTRAL_VALUES[name])
