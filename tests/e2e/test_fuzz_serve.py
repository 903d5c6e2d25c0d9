"""Fuzzing through the real stack: ``switchboard serve`` (Ray Serve, the proxy, the
router replica, the real small model behind a Ray handle), with the hostile strategies
of ``tests/fuzz.py``; 2,000 generated bodies, none may get a 5xx."""

from pathlib import Path

import pytest

from harness.configs import smol_only_raw, write_config
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess
from tests.fuzz import MUTATIONS, fuzz

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KEY = "sk-fuzz"
EXAMPLES_PER_OPERATION = 1000  # two POST operations


def test_no_server_errors_through_switchboard_serve(tmp_path: Path) -> None:
    raw = smol_only_raw(max_output_tokens=2)
    raw["router"]["max_body_bytes"] = 1 << 20
    config = write_config(tmp_path / "models.yaml", raw)
    server = SwitchboardProcess(config, free_port(), env={"SWITCHBOARD_API_KEYS": KEY}).start()
    try:
        seen = fuzz(server.base_url, EXAMPLES_PER_OPERATION, api_key=KEY)
    finally:
        server.stop()
    statuses = {k: v for k, v in seen.items() if not k.startswith("mutation:")}
    assert sum(statuses.values()) >= 2000, seen
    assert seen["200"] > 50, seen
    assert all(seen[f"mutation:{m}"] > 100 for m in MUTATIONS), seen
