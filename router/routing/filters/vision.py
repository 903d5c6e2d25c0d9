"""VisionFilter: image content parts need a model that reads images.

Config: ``vision`` per model/provider. Trade-off: none; a text-only model would drop the
image silently.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class VisionFilter:
    reason = "vision"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        if facts.has_images and not target.vision:
            message = f"Model {target.id!r} does not accept image input."
            return Refusal(self.reason, "invalid", message, param="messages")
        return None
