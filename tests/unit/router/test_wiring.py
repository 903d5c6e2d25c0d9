"""A live policy change on a running router (``apply_live_policy``), through the live HTTP
API (no Ray): the real small model; what Serve's ``reconfigure`` does in a replica."""

import json
from collections.abc import Iterator

import pytest

from harness.configs import smol_only_raw
from router.config_loader import parse_config, parse_live_policy
from router.service import RouterContext
from router.wiring import apply_live_policy
from serving.engine import Engine
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api
from tests.unit.router.http.test_api import SMOL, call, chat

pytestmark = pytest.mark.slow
TEAM = "sk-team-live"
EXTERNAL_ONLY = {"allowed_models": ["external"]}  # declared, but not serving here


@pytest.fixture
def live(smol_engine: TransformersEngine) -> Iterator[tuple[RouterContext, str]]:
    engines: dict[str, Engine] = {SMOL: smol_engine}
    ctx = context(engines, keys=(f"team:{TEAM}",), config=parse_config(smol_only_raw()))
    with serve_api(ctx) as url:
        yield ctx, url


async def models(url: str) -> list[str]:
    status, _, raw = await call("GET", f"{url}/v1/models", key=TEAM)
    assert status == 200, raw
    return [card["id"] for card in json.loads(raw)["data"]]


async def test_rules_aliases_and_key_policies_change_on_the_running_router(
    live: tuple[RouterContext, str],
) -> None:
    ctx, url = live
    ask = chat("auto-fast", max_tokens=1)
    assert (await call("POST", f"{url}/v1/chat/completions", ask, key=TEAM))[0] == 404
    assert await models(url) == [SMOL, "auto", "auto-economy", "auto-quality"]
    policy = {
        "aliases": {"auto": None, "auto-fast": 0.0},
        "rules": [{"name": "team-pinned", "when": {"key_names": ["team"]}, "then": {"pin": SMOL}}],
        "keys": {"team": {"requests_per_minute": 1}},
    }
    apply_live_policy(ctx, parse_live_policy(policy, parse_config(smol_only_raw()), source="t"))

    assert await models(url) == [SMOL, "auto", "auto-fast"]
    status, headers, raw = await call("POST", f"{url}/v1/chat/completions", ask, key=TEAM)
    assert status == 200, raw
    assert headers["x-switchboard-route"] == "rule"
    status, _, raw = await call("POST", f"{url}/v1/chat/completions", ask, key=TEAM)
    assert status == 429, raw  # the key's new limit: one a minute


async def test_a_key_limited_to_other_models_loses_them_from_its_list(
    live: tuple[RouterContext, str],
) -> None:
    ctx, url = live
    assert SMOL in await models(url)
    policy = {"keys": {"team": EXTERNAL_ONLY}}
    apply_live_policy(ctx, parse_live_policy(policy, parse_config(smol_only_raw()), source="t"))
    assert SMOL not in await models(url)
    status, _, raw = await call("POST", f"{url}/v1/chat/completions", chat(SMOL), key=TEAM)
    assert status == 403, raw  # the key may not use it now
