"""End to end: `switchboard serve` follows its models.yaml's live policy and its key file on
a running app. A rule and a key policy change, and a key is added, while the router
replica that started keeps serving (Ray Serve reconfigures it in place)."""

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.configs import smol_only_raw, write_config
from harness.ports import free_port
from harness.prometheus import scrape
from harness.switchboard_process import SwitchboardProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMOL = "smollm2-135m"
ALICE, BOB = "sk-alice-live", "sk-bob-live"
APPLIED = "ray_switchboard_policy_updates_total"


def fleet(tenant: str, alice: dict[str, Any]) -> dict[str, Any]:
    raw = smol_only_raw()
    raw["router"]["rules"] = [
        {
            "name": "tenant-pinned",
            "when": {"header": {"name": "x-tenant", "equals": tenant}},
            "then": {"pin": SMOL},
        }
    ]
    raw["auth"]["keys"] = {"alice": alice}
    return raw


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("live")
    keys = folder / "api-keys"
    keys.write_text(f"alice:{ALICE}\n")
    return write_config(folder / "models.yaml", fleet("acme", {})), keys


@pytest.fixture(scope="module")
def server(files: tuple[Path, Path]) -> Iterator[SwitchboardProcess]:
    config, keys = files
    process = SwitchboardProcess(config, free_port(), env={"SWITCHBOARD_API_KEYS_FILE": str(keys)})
    process.start()
    yield process
    assert process.stop() == 0, "\n".join(process.output)


def chat(server: SwitchboardProcess, key: str, tenant: str) -> tuple[int, dict[str, str]]:
    """Status and headers (names lower-cased) of a one-token chat as ``tenant``."""
    body = b'{"model": "auto", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}'
    request = urllib.request.Request(
        f"{server.base_url}/v1/chat/completions",
        data=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "x-tenant": tenant,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.5)


def policy_updates(server: SwitchboardProcess) -> dict[tuple[str, str], float]:
    """(router replica, outcome) -> live policy updates it counted."""
    samples = scrape(f"http://127.0.0.1:{server.metrics_port}/metrics")
    return {
        (s.labels["replica"], s.labels["outcome"]): s.value for s in samples if s.name == APPLIED
    }


def test_a_rule_a_key_policy_and_a_key_change_on_the_running_app(
    server: SwitchboardProcess, files: tuple[Path, Path]
) -> None:
    config, keys = files
    status, headers = chat(server, ALICE, "acme")
    assert (status, headers["x-switchboard-route"]) == (200, "rule")
    assert chat(server, ALICE, "globex")[1]["x-switchboard-route"] == "only-candidate"
    assert chat(server, ALICE, "acme")[0] == 200  # no limit on alice yet
    assert chat(server, BOB, "acme")[0] == 401
    eventually(lambda: len(policy_updates(server)) == 1, "the start's policy in the metrics")
    [(replica, outcome)] = policy_updates(server)
    assert outcome == "applied"

    # The rule now matches another tenant; alice gets one request a minute; bob a key.
    write_config(config, fleet("globex", {"requests_per_minute": 1}))
    keys.write_text(f"alice:{ALICE}\nbob:{BOB}\n")

    eventually(
        lambda: chat(server, BOB, "globex")[1].get("x-switchboard-route") == "rule",
        "the rule's new tenant routed by it",
    )
    assert chat(server, BOB, "acme")[1]["x-switchboard-route"] == "only-candidate"
    assert chat(server, ALICE, "acme")[0] == 200
    status, headers = chat(server, ALICE, "acme")
    assert status == 429 and int(headers["retry-after"]) > 0
    # The same replica applied both policies: it was reconfigured, not restarted.
    eventually(
        lambda: policy_updates(server) == {(replica, "applied"): 2.0},
        "two policies applied by the one replica",
    )


def test_an_invalid_edit_keeps_the_policy_and_a_fleet_edit_waits_for_a_restart(
    server: SwitchboardProcess, files: tuple[Path, Path]
) -> None:
    config, _ = files
    broken = fleet("acme", {})
    broken["router"]["rules"][0]["then"] = {"pin": "no-such-model"}
    write_config(config, broken)
    eventually(lambda: any("is not valid" in line for line in server.output), "the error logged")
    assert chat(server, BOB, "globex")[1]["x-switchboard-route"] == "rule"

    resized = fleet("globex", {"requests_per_minute": 1})
    resized["models"][0]["context_window"] = 4096
    write_config(config, resized)
    eventually(
        lambda: any(
            "take effect when switchboard serve restarts" in line for line in server.output
        ),
        "the restart warning logged",
    )
    assert chat(server, BOB, "globex")[1]["x-switchboard-route"] == "rule"
