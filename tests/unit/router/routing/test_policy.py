"""Knob precedence: request header > alias > rule > key > deployment default (the
header's parsing: ``test_facts``)."""

from dataclasses import replace

from router.auth import Caller
from router.policy_config import KeyPolicy, PolicySettings
from router.routing.facts import RuleOutcome
from router.routing.policy import KnobPolicy
from tests.unit.router.routing.conftest import facts

POLICY = KnobPolicy(PolicySettings())  # economy 0.2, balanced 0.5, quality 0.8
KEY = Caller("k", KeyPolicy(knob="quality"))
RULE = RuleOutcome(matched=("r",), knob=0.3, knob_rule="r")


def test_precedence() -> None:
    assert POLICY.choose(facts()).source == "deployment"
    assert POLICY.choose(facts()).large_share == 0.5
    assert POLICY.choose(facts(caller=KEY)).large_share == 0.8
    with_rule = replace(facts(caller=KEY), rules=RULE)
    assert (POLICY.choose(with_rule).large_share, POLICY.choose(with_rule).source) == (
        0.3,
        "rule:r",
    )
    alias = replace(facts("auto-economy", caller=KEY), rules=RULE)
    assert (POLICY.choose(alias).large_share, POLICY.choose(alias).source) == (0.2, "alias")
    header = replace(alias, knob_header=0.65)
    assert (POLICY.choose(header).large_share, POLICY.choose(header).source) == (
        0.65,
        "request-header",
    )
