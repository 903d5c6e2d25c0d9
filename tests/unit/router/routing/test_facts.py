"""The router's own headers, read once when the facts are built."""

import pytest

from router.policy_config import PolicySettings
from router.routing.refusal import Refusal, RoutingRefused
from tests.unit.router.routing.conftest import SMOL, facts

KNOB, LOCAL_ONLY = "x-switchboard-quality", "x-switchboard-local-only"


@pytest.mark.parametrize(
    ("value", "share"), [("0.65", 0.65), (" 1 ", 1.0), ("0", 0.0), ("quality", 0.8)]
)
def test_the_knob_header_is_a_share_or_a_preset(value: str, share: float) -> None:
    assert facts(headers={KNOB: value}).knob_header == share
    assert facts().knob_header is None


@pytest.mark.parametrize("value", ["1.5", "-0.1", "cheap", "nan", "0.2, 0.5"])
def test_a_bad_knob_header_is_refused_when_the_facts_are_built(value: str) -> None:
    with pytest.raises(RoutingRefused) as raised:
        facts(SMOL, headers={KNOB: value})  # refused even for a pinned model
    assert raised.value.refusal == Refusal(
        "knob_header",
        "invalid",
        f"Header {KNOB} must be a preset (balanced, economy, quality) or a number between "
        f"0 and 1; got {value.strip()!r}.",
        param=KNOB,
    )


def test_the_header_names_come_from_the_policy() -> None:
    policy = PolicySettings(knob_header="X-Tier", local_only_header="X-Private")
    shown = facts(headers={"x-tier": "economy", "x-private": "yes"}, policy=policy)
    assert (shown.knob_header, shown.local_only_header) == (0.2, True)
    ignored = facts(headers={KNOB: "1", LOCAL_ONLY: "true"}, policy=policy)
    assert (ignored.knob_header, ignored.local_only_header) == (None, False)


@pytest.mark.parametrize(
    ("value", "local_only"),
    [
        ("true", True),
        ("YES", True),
        ("1", True),
        ("false", False),
        ("", False),
        ("false, true", True),  # sent twice, comma-joined: any true copy wins
        ("0,no, 1", True),
        ("0, no", False),
    ],
)
def test_the_local_only_header_fails_closed(value: str, local_only: bool) -> None:
    assert facts(headers={LOCAL_ONLY: value}).local_only_header is local_only
    assert facts().local_only_header is False
