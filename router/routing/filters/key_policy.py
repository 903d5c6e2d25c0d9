"""KeyPolicyFilter: a key with ``allowed_models`` may use only those.

Config: ``auth.keys.<name>.allowed_models``. Unnamed keys and keys without a policy may
use every model.
"""

from router.policy_config import KeyPolicy
from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class KeyPolicyFilter:
    reason = "key_policy"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        return key_policy_refusal(facts.caller.policy, target.id)


def key_policy_refusal(policy: KeyPolicy, model_id: str) -> Refusal | None:
    """Why a key with ``policy`` may not use ``model_id`` (chat and embeddings alike)."""
    allowed = policy.allowed_models
    if allowed is not None and model_id not in allowed:
        message = f"Your API key may not use model {model_id!r}."
        return Refusal(KeyPolicyFilter.reason, "forbidden", message, param="model")
    return None
