"""The rules layer: conditions AND together; pins and knobs go to the first match,
restrictions narrow, forbid_external accumulates."""

from router.auth import Caller
from router.policy_config import KeyPolicy, RoutingRule
from router.routing.rules import RuleBook
from tests.unit.router.routing.conftest import QWEN, SMOL, facts


def rule(name: str, when: dict[str, object], then: dict[str, object]) -> RoutingRule:
    return RoutingRule.model_validate({"name": name, "when": when, "then": then})


def test_each_condition_matches_its_part_of_the_request() -> None:
    batch = Caller("nightly", KeyPolicy(group="batch"))
    book = RuleBook(
        [
            rule("by-name", {"key_names": ["nightly"]}, {"knob": "economy"}),
            rule("by-group", {"key_groups": ["batch"]}, {"forbid_external": True}),
            rule("by-header", {"header": {"name": "X-Team", "equals": "search"}}, {"pin": QWEN}),
            rule("by-metadata", {"metadata": {"project": "alpha"}}, {"restrict_to": [SMOL]}),
            rule("by-regex", {"last_user_message_regex": r"\bdef\b"}, {"pin": QWEN}),
        ]
    )
    assert book.evaluate(facts(caller=batch)).matched == ("by-name", "by-group")
    assert book.evaluate(facts(headers={"x-team": "search"})).matched == ("by-header",)
    assert book.evaluate(facts(metadata={"project": "alpha"})).matched == ("by-metadata",)
    code = facts(messages=[{"role": "user", "content": "def f(x): return x"}])
    assert book.evaluate(code).matched == ("by-regex",)
    assert book.evaluate(facts()).matched == ()


def test_all_conditions_of_a_rule_must_hold() -> None:
    book = RuleBook(
        [rule("both", {"key_groups": ["batch"], "metadata": {"job": "x"}}, {"knob": 0.1})]
    )
    batch = Caller("n", KeyPolicy(group="batch"))
    assert book.evaluate(facts(caller=batch)).matched == ()
    assert book.evaluate(facts(caller=batch, metadata={"job": "x"})).matched == ("both",)


def test_first_pin_and_knob_win_restrictions_narrow() -> None:
    book = RuleBook(
        [
            rule(
                "a",
                {"metadata": {"k": "v"}},
                {"pin": SMOL, "knob": 0.1, "restrict_to": [SMOL, QWEN]},
            ),
            rule("b", {"metadata": {"k": "v"}}, {"pin": QWEN, "knob": 0.9, "restrict_to": [QWEN]}),
        ]
    )
    outcome = book.evaluate(facts(metadata={"k": "v"}))
    assert outcome.pin == SMOL and outcome.knob == 0.1 and outcome.knob_rule == "a"
    assert outcome.restrict_to == frozenset({QWEN})
