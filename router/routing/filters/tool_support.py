"""ToolSupportFilter: a request with ``tools`` (and a ``tool_choice`` other than
``none``) needs a model that can call tools.

Config: ``supports_tools`` per model (local models need ``engine: vllm``). Trade-off:
none; a model without tool calling would answer in prose and break the client.
"""

from router.errors import ApiError, InvalidRequest
from router.routing.facts import RequestFacts
from router.routing.targets import RouteTarget


class ToolSupportFilter:
    reason = "tools"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> ApiError | None:
        if facts.wants_tools and not target.supports_tools:
            return InvalidRequest(f"Model {target.id!r} does not support tools.", param="tools")
        return None
