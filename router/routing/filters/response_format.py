"""ResponseFormatFilter: ``response_format`` json_object/json_schema needs a model that
can guarantee JSON (vLLM's structured outputs, or a provider that honours it).

Config: derived for local models (``engine: vllm``), ``json_output`` for providers.
Trade-off: the transformers engine could be asked nicely for JSON, but not guaranteed.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class ResponseFormatFilter:
    reason = "response_format"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        if facts.wants_json and not target.json_output:
            message = f"Model {target.id!r} cannot guarantee JSON output."
            return Refusal(self.reason, "invalid", message, param="response_format")
        return None
