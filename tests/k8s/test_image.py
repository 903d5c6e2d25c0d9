"""The Dockerfile the KubeRay overlays' images are built from. No image can be built here
(no registry to pull Ray's base image from), so its steps are checked instead: parsed by
BuildKit's own parser against the project (Ray and torch pins, extras, the overlays'
tags, what the build context lets in), and its build stage run for real: the wheel built
from exactly the files it copies, installed, routes a request with its packaged data."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dockerfile
import pytest
import yaml

from harness.configs import REPO
from tests.k8s.manifests import OVERLAYS_DIR

INSTRUCTIONS = dockerfile.parse_file(str(REPO / "Dockerfile"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VARIANTS = {"cpu": "cpu-dev", "gpu": "gpu"}  # build argument -> the overlay it serves


def _stages() -> dict[str, list[dockerfile.Command]]:
    stages: dict[str, list[dockerfile.Command]] = {}
    name = ""
    for instruction in INSTRUCTIONS:
        if instruction.cmd == "FROM":
            value = instruction.value
            name = value[2] if len(value) == 3 else "final"
            stages[name] = []
        elif name:
            stages[name].append(instruction)
    return stages


STAGES = _stages()


def _arg(name: str) -> str:
    [value] = [i.value[0].split("=", 1)[1] for i in INSTRUCTIONS if i.cmd == "ARG"
               and i.value[0].startswith(f"{name}=")]  # fmt: skip
    return value


def _copied_sources() -> list[str]:
    return [source for i in INSTRUCTIONS if i.cmd == "COPY" and not i.flags
            for source in i.value[:-1]]  # fmt: skip


def test_one_stage_per_variant_on_the_ray_version_the_project_pins() -> None:
    assert set(STAGES) == {"wheel", *(f"base-{v}" for v in VARIANTS), "final"}
    [ray] = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("ray[")]
    assert _arg("RAY_VERSION").startswith(ray.split("==")[1].rstrip("*"))
    assert _arg("VARIANT") in VARIANTS


def test_each_variant_installs_an_extra_the_project_declares() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for variant in VARIANTS:
        [env] = [i.value for i in STAGES[f"base-{variant}"] if i.cmd == "ENV"]
        assert env[0] == "SWITCHBOARD_EXTRAS" and env[1] in extras, variant


def test_the_cpu_variant_pins_the_torch_the_makefile_pins() -> None:
    makefile = (REPO / "Makefile").read_text()
    [pinned] = set(re.findall(r"torch==[\d.]+", makefile))
    runs = " ".join(i.value[0] for i in STAGES["base-cpu"] if i.cmd == "RUN")
    assert pinned in runs and "/whl/cpu" in runs


def test_the_context_lets_in_what_the_dockerfile_copies() -> None:
    allowed = [line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]  # fmt: skip
    for source in _copied_sources():
        assert (REPO / source).exists(), source
        assert source.rstrip("/") in allowed, source


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_overlay_names_the_tag_of_its_variant(variant: str) -> None:
    kustomization = yaml.safe_load(
        (OVERLAYS_DIR / VARIANTS[variant] / "kustomization.yaml").read_text()
    )
    [image] = [i for i in kustomization["images"] if i["name"] == "switchboard"]
    assert image["newTag"] == f"{PYPROJECT['project']['version']}-{variant}"


@pytest.mark.slow
def test_the_built_wheel_routes_with_its_packaged_data(tmp_path: Path) -> None:
    """The build stage's own command on a context of exactly what it copies; the wheel,
    installed alone, answers ``switchboard route`` (classifier, labels, fleet config)."""
    context = tmp_path / "context"
    for source in _copied_sources():
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, context / source,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / source, context / source)
    [build] = [i.value[0] for i in STAGES["wheel"] if i.cmd == "RUN"]
    wheels = tmp_path / "wheels"
    command = build.replace("pip ", f"{sys.executable} -m pip ", 1).replace("/wheels", str(wheels))
    subprocess.run(command, shell=True, cwd=context, check=True, capture_output=True)
    [wheel] = wheels.glob("switchboard-*.whl")
    installed = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(installed), str(wheel)], check=True, capture_output=True)  # fmt: skip
    # Run from elsewhere, the installed copy first on the path: not the checkout.
    probe = (
        "import router, sys; from router.cli.main import main\n"
        "assert router.__file__.startswith(sys.argv[1]), router.__file__\n"
        f"sys.exit(main(['route', 'What is 2+2?', '--config', {str(REPO / 'models.yaml')!r},"
        " '--json']))\n"
    )
    routed = subprocess.run(
        [sys.executable, "-c", probe, str(installed)], cwd=tmp_path, capture_output=True,
        text=True, env={**os.environ, "PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )  # fmt: skip
    assert routed.returncode == 0, routed.stderr[-2000:]
    decision = json.loads(routed.stdout.splitlines()[-1])
    assert decision["route"] == "classifier" and decision["estimate"] is not None
