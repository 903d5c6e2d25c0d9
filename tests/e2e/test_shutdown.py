"""`switchboard serve` stops cleanly on SIGTERM too (what Kubernetes and systemd send;
Ray installs its own SIGTERM handler, which we must override)."""

import signal
from pathlib import Path

import pytest

from harness.configs import smol_only_raw, write_config
from harness.ports import free_port
from harness.switchboard_process import SwitchboardProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path / "models.yaml", smol_only_raw())
    server = SwitchboardProcess(config, free_port()).start()
    assert server.stop(signum=signal.SIGTERM) == 0, "\n".join(server.output)
    assert any("Shutting down" in line for line in server.output)
