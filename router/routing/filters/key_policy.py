"""KeyPolicyFilter: a key with ``allowed_models`` may use only those.

Config: ``auth.keys.<name>.allowed_models``. Unnamed keys and keys without a policy may
use every model.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class KeyPolicyFilter:
    reason = "key_policy"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        allowed = facts.caller.policy.allowed_models
        if allowed is not None and target.id not in allowed:
            message = f"Your API key may not use model {target.id!r}."
            return Refusal(self.reason, "forbidden", message, param="model")
        return None
