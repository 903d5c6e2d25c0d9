"""The overlays' generated files are what `make k8s-config` writes: a fleet edited in the
repo, or a change in how the app builder sets deployment options, fails here until the
overlays are regenerated."""

import pytest
import yaml

from router.cli.main import main
from tests.k8s.manifests import FLEET_SOURCES, OVERLAYS, OVERLAYS_DIR

REGENERATE = "out of date: run `make k8s-config`"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_fleet_is_the_command_output(
    overlay: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = OVERLAYS_DIR / overlay / "models.yaml"
    assert main(["config", "fleet", "--config", str(FLEET_SOURCES[overlay])]) == 0
    assert capsys.readouterr().out == fleet.read_text(), f"{fleet} {REGENERATE}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_serve_config_is_the_command_output(
    overlay: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = OVERLAYS_DIR / overlay
    committed = (folder / "serve-config.yaml").read_text()
    # The in-pod paths are the committed ones; tests/k8s/test_wiring.py checks them
    # against the pods' mounts.
    args = yaml.safe_load(committed)["applications"][0]["args"]
    argv = ["config", "serve", "--config", str(FLEET_SOURCES[overlay])]
    argv += ["--app-config-path", args["config_path"], "--models-dir", args["models_dir"]]
    assert main(argv) == 0
    assert capsys.readouterr().out == committed, f"{folder / 'serve-config.yaml'} {REGENERATE}"
