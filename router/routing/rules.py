"""The declarative rules layer (``router.rules`` in models.yaml), evaluated before the
classifier. Every rule whose conditions all hold applies, in file order; for ``pin``
and ``knob`` the first matching rule wins, ``restrict_to`` sets intersect and
``forbid_external`` accumulates, so a later rule can narrow but never widen."""

import re

from router.policy_config import RoutingRule
from router.routing.facts import NO_RULES, RequestFacts, RuleOutcome


class RuleBook:
    def __init__(self, rules: list[RoutingRule]) -> None:
        self._rules = rules
        self._patterns = {
            rule.name: re.compile(rule.when.last_user_message_regex)
            for rule in rules
            if rule.when.last_user_message_regex is not None
        }

    def evaluate(self, facts: RequestFacts) -> RuleOutcome:
        outcome = NO_RULES
        for rule in self._rules:
            if self._matches(rule, facts):
                outcome = _apply(outcome, rule)
        return outcome

    def _matches(self, rule: RoutingRule, facts: RequestFacts) -> bool:
        when, caller, header = rule.when, facts.caller, rule.when.header
        pattern = self._patterns.get(rule.name)
        checks = (
            when.key_names is None or caller.name in when.key_names,
            when.key_groups is None or caller.policy.group in when.key_groups,
            header is None or facts.headers.get(header.name.lower()) == header.equals,
            all(facts.metadata.get(k) == v for k, v in (when.metadata or {}).items()),
        )
        # The regex last: it is the only check that costs more than a lookup.
        return all(checks) and (
            pattern is None or pattern.search(facts.last_user_message()) is not None
        )


def _apply(outcome: RuleOutcome, rule: RoutingRule) -> RuleOutcome:
    action = rule.then
    restrict = outcome.restrict_to
    if action.restrict_to is not None:
        allowed = frozenset(action.restrict_to)
        restrict = allowed if restrict is None else restrict & allowed
    first_knob = outcome.knob is None and action.knob is not None
    return RuleOutcome(
        matched=(*outcome.matched, rule.name),
        pin=outcome.pin or action.pin,
        restrict_to=restrict,
        forbid_external=outcome.forbid_external or action.forbid_external,
        knob=action.knob if first_knob else outcome.knob,
        knob_rule=rule.name if first_knob else outcome.knob_rule,
    )
