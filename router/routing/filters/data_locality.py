"""DataLocalityFilter: local-only requests never go to an external provider.

A request is local-only when its key's policy says ``allow_external: false``, a matching
rule says ``forbid_external``, or the client sends the local-only header
(``router.policy.local_only_header``, read when the facts are built: see
``RequestFacts.local_only_header``). Trade-off: such a request is refused rather than
sent out when no local model can take it.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class DataLocalityFilter:
    reason = "local_only"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        if target.external and _local_only(facts):
            message = f"This request must stay on local models; {target.id!r} is external."
            return Refusal(self.reason, "forbidden", message, param="model")
        return None


def _local_only(facts: RequestFacts) -> bool:
    return (
        not facts.caller.policy.allow_external
        or facts.rules.forbid_external
        or facts.local_only_header
    )
