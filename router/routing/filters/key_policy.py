"""KeyPolicyFilter: a key with ``allowed_models`` may use only those.

Config: ``auth.keys.<name>.allowed_models``. Unnamed keys and keys without a policy may
use every model.
"""

from router.errors import ApiError, PermissionDenied
from router.routing.facts import RequestFacts
from router.routing.targets import RouteTarget


class KeyPolicyFilter:
    reason = "key_policy"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> ApiError | None:
        allowed = facts.caller.policy.allowed_models
        if allowed is not None and target.id not in allowed:
            return PermissionDenied(f"Your API key may not use model {target.id!r}.", param="model")
        return None
