"""ToolSupportFilter: a request with ``tools`` (and a ``tool_choice`` other than
``none``) needs a model that can call tools.

Config: ``supports_tools`` per model (local models need ``engine: vllm``). Trade-off:
none; a model without tool calling would answer in prose and break the client.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class ToolSupportFilter:
    reason = "tools"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        if facts.wants_tools and not target.supports_tools:
            message = f"Model {target.id!r} does not support tools."
            return Refusal(self.reason, "invalid", message, param="tools")
        return None
