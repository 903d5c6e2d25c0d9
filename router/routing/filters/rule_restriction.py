"""RuleRestrictionFilter: a matching rule's ``restrict_to`` limits the candidates.

Config: ``router.rules[].then.restrict_to``. The message names the rules, so an operator
reading a refused request's log sees which rule did it.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget


class RuleRestrictionFilter:
    reason = "rule"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        allowed = facts.rules.restrict_to
        if allowed is not None and target.id not in allowed:
            rules = ", ".join(facts.rules.matched)
            message = f"Routing rules ({rules}) do not allow model {target.id!r} for this request."
            return Refusal(self.reason, "forbidden", message, param="model")
        return None
