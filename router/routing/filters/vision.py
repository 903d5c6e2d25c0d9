"""VisionFilter: image content parts need a model that reads images.

Config: ``vision`` per model/provider. Trade-off: none; a text-only model would drop the
image silently.
"""

from router.errors import ApiError, InvalidRequest
from router.routing.facts import RequestFacts
from router.routing.targets import RouteTarget


class VisionFilter:
    reason = "vision"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> ApiError | None:
        if facts.has_images and not target.vision:
            return InvalidRequest(
                f"Model {target.id!r} does not accept image input.", param="messages"
            )
        return None
