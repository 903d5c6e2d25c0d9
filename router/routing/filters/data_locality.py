"""DataLocalityFilter: local-only requests never go to an external provider.

A request is local-only when its key's policy says ``allow_external: false``, a matching
rule says ``forbid_external``, or the client sends the local-only header
(``router.policy.local_only_header``, value ``true``/``1``/``yes``; sent more than once,
any true copy wins: the filter fails closed). Trade-off: such a
request is refused rather than sent out when no local model can take it.
"""

from router.errors import ApiError, PermissionDenied
from router.routing.facts import RequestFacts
from router.routing.targets import RouteTarget

_TRUE = frozenset({"1", "true", "yes"})


class DataLocalityFilter:
    reason = "local_only"

    def __init__(self, header: str) -> None:
        self._header = header.lower()

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> ApiError | None:
        if target.external and self._local_only(facts):
            return PermissionDenied(
                f"This request must stay on local models; {target.id!r} is external.",
                param="model",
            )
        return None

    def _local_only(self, facts: RequestFacts) -> bool:
        copies = facts.headers.get(self._header, "").split(",")
        return (
            not facts.caller.policy.allow_external
            or facts.rules.forbid_external
            or any(value.strip().lower() in _TRUE for value in copies)
        )
