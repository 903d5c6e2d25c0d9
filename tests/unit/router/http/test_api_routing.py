"""Routing through the live HTTP API (no Ray): the real small model, the fake provider
process as `external`, the shipped quality predictor (``tests.predictors``), named keys
with policies and a rule."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.configs import smol_only_raw
from harness.fake_provider.process import FakeProviderProcess
from router.config_loader import parse_config
from serving.engine import Engine
from serving.transformers_engine import TransformersEngine
from tests.live_api import context, serve_api
from tests.unit.router.http.test_api import SMOL, call, error_of, external

pytestmark = pytest.mark.slow
OPEN, TEAM, BATCH = "sk-open-1", "sk-team-1", "sk-batch-1"
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
SECRET = "the launch code is 0000"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviderProcess]:
    with FakeProviderProcess("--rate-limit-rate", "0") as process:
        yield process


@pytest.fixture(scope="module")
def api(smol_engine: TransformersEngine, fake: FakeProviderProcess) -> Iterator[str]:
    raw = smol_only_raw()
    raw["auth"]["keys"] = {"team": {"allowed_models": [SMOL]}, "batch": {"group": "batch"}}
    raw["router"]["rules"] = [
        {"name": "batch-stays-local", "when": {"key_groups": ["batch"]},
         "then": {"forbid_external": True}},
    ]  # fmt: skip
    engines: dict[str, Engine] = {SMOL: smol_engine, "external": external(fake)}
    keys = (f"open:{OPEN}", f"team:{TEAM}", f"batch:{BATCH}")
    with serve_api(context(engines, keys=keys, config=parse_config(raw))) as url:
        yield url


async def ask(
    api: str, model: str = "auto", *, key: str = OPEN, headers: dict[str, str] | None = None,
    text: str = "Name a colour.", **fields: Any,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    return await call("POST", f"{api}/v1/chat/completions", body, key=key, headers=headers)


# Knob 0: every model is adequate, so the cheapest serves; knob 1: only the best is.
@pytest.mark.parametrize(("knob", "served_by"), [("0", SMOL), ("1", "external")])
async def test_the_knob_header_steers_auto(api: str, knob: str, served_by: str) -> None:
    status, headers, raw = await ask(api, headers={"x-switchboard-quality": knob}, max_tokens=4)
    assert status == 200, raw
    assert headers["x-switchboard-model"] == served_by
    assert headers["x-switchboard-route"] == "classifier"
    assert float(headers["x-switchboard-decision-ms"]) > 0


async def test_a_preset_name_routes_as_its_share(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="switchboard.decisions"):
        for knob in ("economy", "0.2", "quality", "0.8"):
            status, _, _ = await ask(api, headers={"x-switchboard-quality": knob}, max_tokens=2)
            assert status == 200
    logged = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "switchboard.decisions"
    ]
    economy, share_02, quality, share_08 = ((d["model"], d["knob"]) for d in logged)
    assert economy == share_02 and quality == share_08
    assert economy[1]["large_share"] == 0.2 and quality[1]["large_share"] == 0.8
    assert economy[1]["tolerance"] >= quality[1]["tolerance"]


async def test_a_bad_knob_is_a_400_naming_the_header(api: str) -> None:
    status, _, raw = await ask(api, headers={"x-switchboard-quality": "max"})
    assert status == 400 and error_of(raw)["param"] == "x-switchboard-quality"


async def test_a_key_limited_to_a_model_gets_403_elsewhere(api: str) -> None:
    status, _, raw = await ask(api, "external", key=TEAM)
    assert status == 403 and error_of(raw)["code"] == "model_not_allowed"
    status, headers, _ = await ask(api, key=TEAM, headers={"x-switchboard-quality": "1"})
    assert status == 200 and headers["x-switchboard-model"] == SMOL  # the only model it may use


async def test_tools_go_to_the_provider_unless_a_rule_keeps_the_key_local(api: str) -> None:
    status, headers, _ = await ask(api, tools=[TOOL], tool_choice="required")
    assert status == 200 and headers["x-switchboard-model"] == "external"
    assert headers["x-switchboard-route"] == "only-candidate"
    status, _, raw = await ask(api, key=BATCH, tools=[TOOL], tool_choice="required")
    assert status == 400 and error_of(raw)["param"] == "tools"  # never sent out


async def test_fields_a_local_model_cannot_honour_go_to_the_provider_unchanged(
    api: str, fake: FakeProviderProcess
) -> None:
    """SmolLM2 runs on the transformers engine here, which honours no penalty."""
    fields = {"presence_penalty": 0.5, "logit_bias": {"7": -100}, "reasoning_effort": "low"}
    status, headers, _ = await ask(api, max_tokens=4, **fields)
    assert status == 200 and headers["x-switchboard-model"] == "external"
    sent = fake.get("/last_request")["body"]
    assert {name: sent[name] for name in fields} == fields
    status, _, raw = await ask(api, SMOL, max_tokens=4, **fields)
    assert status == 400 and error_of(raw)["param"] == "logit_bias"
    # Neutral values and a hosted API's options change nothing: the local model answers.
    neutral = {"presence_penalty": 0, "store": False, "logit_bias": {}, "audio": None}
    status, headers, _ = await ask(api, SMOL, max_tokens=4, **neutral)
    assert status == 200 and headers["x-switchboard-model"] == SMOL


async def test_context_window_counts_exactly_and_names_the_numbers(api: str) -> None:
    status, _, raw = await ask(api, SMOL, max_tokens=8190)
    error = error_of(raw)
    assert status == 400 and error["code"] == "context_length_exceeded"
    assert "maximum context length is 8192 tokens" in error["message"]
    # The exact count: prompt tokens (with the chat template) + 8190 in the message.
    prompt_tokens = int(error["message"].split("(")[1].split(" ")[0])
    assert error["message"].count(str(prompt_tokens + 8190)) == 1 and prompt_tokens > 5
    status, headers, _ = await ask(api, max_tokens=8190)
    assert status == 200 and headers["x-switchboard-model"] == "external"


async def test_one_decision_log_line_without_the_prompt(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="switchboard.decisions"):
        status, _, _ = await ask(api, text=SECRET, headers={"x-switchboard-quality": "0"})
    assert status == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "switchboard.decisions"]
    assert SECRET not in line
    logged = json.loads(line, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert OPEN not in line  # the key's name, never the key
    assert (logged["key"], logged["requested"], logged["model"]) == ("open", "auto", SMOL)
    assert [r["model"] for r in logged["ranked"]] == [SMOL, "external"]
    assert logged["knob"] == {"large_share": 0.0, "source": "request-header", "tolerance": None}
    assert set(logged["estimate"]["quality"]) == {SMOL, "external"}
    assert all(0.0 < p < 1.0 for p in logged["estimate"]["quality"].values())
    assert logged["estimate"]["prior"] == ["external"]  # no labels for the provider
    assert logged["request_id"] and logged["decision_ms"] > 0


async def test_one_request_log_line_when_it_was_served(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="switchboard"):
        status, _, _ = await ask(api, text=SECRET, headers={"x-switchboard-quality": "0"})
    assert status == 200
    [decision] = [r.getMessage() for r in caplog.records if r.name == "switchboard.decisions"]
    [line] = [r.getMessage() for r in caplog.records if r.name == "switchboard.requests"]
    assert SECRET not in line and OPEN not in line
    logged = json.loads(line)
    assert logged["request_id"] == json.loads(decision)["request_id"]
    assert (logged["key"], logged["model"], logged["route"], logged["outcome"]) == (
        "open", SMOL, "classifier", "ok")  # fmt: skip
    assert 0 < logged["ttft_ms"] <= logged["e2e_ms"]
    assert logged["prompt_tokens"] > 0 and logged["completion_tokens"] > 0


async def test_a_refused_request_is_logged_too(api: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="switchboard.decisions"):
        status, _, _ = await ask(api, SMOL, max_tokens=8190, text=SECRET)
    assert status == 400
    [line] = [r.getMessage() for r in caplog.records if r.name == "switchboard.decisions"]
    logged = json.loads(line, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert (logged["refused"], logged["status"]) == ("context_length_exceeded", 400)
    assert SECRET not in line and OPEN not in line
