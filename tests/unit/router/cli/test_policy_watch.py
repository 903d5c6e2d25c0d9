"""``switchboard serve`` following its models.yaml (``PolicyWatch``): which edits redeploy,
with what, and which are only reported."""

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from harness.configs import default_fleet_raw, write_config
from router.cli.policy_watch import PolicyWatch
from router.config import SwitchboardConfig
from router.config_loader import load_config


class Deployments(list[SwitchboardConfig]):
    def __call__(self, config: SwitchboardConfig) -> None:
        self.append(config)


def edited(path: Path, raw: dict[str, Any]) -> None:
    """Write ``raw`` so the file's stat changes even within the clock's resolution."""
    write_config(path, raw)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "models.yaml", default_fleet_raw())


def watching(path: Path) -> tuple[PolicyWatch, Deployments]:
    deployed = Deployments()
    return PolicyWatch(path, load_config(path), deployed), deployed


def test_an_unchanged_file_deploys_nothing(fleet_file: Path) -> None:
    watch, deployed = watching(fleet_file)
    watch.check()
    edited(fleet_file, default_fleet_raw())  # touched, same content
    watch.check()
    assert deployed == []


def test_a_live_policy_edit_redeploys_the_running_fleet_under_it(fleet_file: Path) -> None:
    watch, deployed = watching(fleet_file)
    raw = default_fleet_raw()
    raw["router"]["policy"]["default"] = "quality"
    raw["auth"]["keys"] = {"ci": {"requests_per_minute": 5}}
    edited(fleet_file, raw)
    watch.check()
    [config] = deployed
    assert config.router.policy.default == "quality" and list(config.auth.keys) == ["ci"]
    watch.check()  # seen: not again
    assert len(deployed) == 1


def test_a_fleet_edit_is_reported_and_only_the_live_part_applied(
    fleet_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = load_config(fleet_file)
    watch, deployed = watching(fleet_file)
    raw = default_fleet_raw()
    raw["models"][0]["context_window"] = 4096
    raw["router"]["rules"] = []
    edited(fleet_file, raw)
    with caplog.at_level(logging.WARNING):
        watch.check()
    assert "take effect when switchboard serve restarts" in caplog.text
    [config] = deployed
    assert config.router.rules == [] and config.models == running.models


def test_an_invalid_edit_is_logged_and_deploys_nothing(
    fleet_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch, deployed = watching(fleet_file)
    raw = default_fleet_raw()
    raw["router"]["policy"]["default"] = "lavish"
    edited(fleet_file, raw)
    with caplog.at_level(logging.ERROR):
        watch.check()
    assert "is not valid; serving on as before" in caplog.text and "lavish" in caplog.text
    fleet_file.unlink()  # mid-save: nothing to read yet
    watch.check()
    assert deployed == []


def test_a_live_policy_naming_a_model_only_the_edited_fleet_has_is_refused(
    fleet_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch, deployed = watching(fleet_file)
    raw = default_fleet_raw()
    raw["models"].append({**raw["models"][0], "id": "smollm2-copy"})
    raw["router"]["rules"] = [
        {"name": "copy", "when": {"key_names": ["ci"]}, "then": {"pin": "smollm2-copy"}}
    ]
    edited(fleet_file, raw)
    with caplog.at_level(logging.ERROR):
        watch.check()
    assert "does not fit the running fleet" in caplog.text
    assert deployed == []
