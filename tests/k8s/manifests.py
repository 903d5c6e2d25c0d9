"""The k8s/ overlays as kustomize renders them, and the tools to check them offline.

Rendering uses a real kustomize: the standalone binary, or the one built into kubectl
(this machine image ships kubectl; Debian's kubernetes-client is too old for
`replacements`). The RayService CRD schema is vendored in ``tests/k8s/schemas`` (or
``$SWITCHBOARD_SCHEMAS_DIR``). Outside CI a missing kustomize skips the tests that need
it; with ``CI`` or ``SWITCHBOARD_REQUIRE_SCHEMAS=1`` set it fails them.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from harness.configs import REPO

OVERLAYS_DIR = REPO / "k8s" / "overlays"
OVERLAYS = ("gpu", "cpu-dev")
# Each overlay's files are generated from one of the repo's fleets (`make k8s-config`).
FLEET_SOURCES = {"gpu": REPO / "models.gpu.yaml", "cpu-dev": REPO / "models.yaml"}
RAYSERVICE_SCHEMA = "rayservice-ray.io-v1-kuberay-1.7.0.json"

Manifest = dict[str, Any]


def unavailable(reason: str) -> NoReturn:
    """Skip a check whose tool or schema is missing here; fail it where it is required."""
    required = os.environ.get("SWITCHBOARD_REQUIRE_SCHEMAS") == "1"
    if required or os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (required: CI or SWITCHBOARD_REQUIRE_SCHEMAS=1 is set)")
    pytest.skip(reason)


def render(overlay: str) -> list[Manifest]:
    """``kustomize build k8s/overlays/<overlay>``, parsed."""
    folder = str(OVERLAYS_DIR / overlay)
    if shutil.which("kustomize"):
        command = ["kustomize", "build", folder]
    elif shutil.which("kubectl"):
        command = ["kubectl", "kustomize", folder]
    else:
        unavailable("no kustomize: install kustomize or kubectl")
    built = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def rayservice_schema() -> dict[str, Any]:
    """The KubeRay CRD schema, strict: see ``_forbid_unknown_fields``."""
    folder = Path(os.environ.get("SWITCHBOARD_SCHEMAS_DIR", Path(__file__).parent / "schemas"))
    schema: dict[str, Any] = json.loads((folder / RAYSERVICE_SCHEMA).read_text())
    _forbid_unknown_fields(schema)
    return schema


def _forbid_unknown_fields(node: Any) -> None:
    """A CRD schema lets unknown fields through (the API server prunes them), so a typo
    would vanish on apply. ``kubectl apply`` rejects them (strict field validation):
    mirror that wherever the schema lists the fields and does not keep unknown ones."""
    if isinstance(node, list):
        for item in node:
            _forbid_unknown_fields(item)
    if not isinstance(node, dict):
        return
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and "additionalProperties" not in node and not keeps_unknown:
        node["additionalProperties"] = False
    for value in node.values():
        _forbid_unknown_fields(value)


def the_one(manifests: list[Manifest], kind: str) -> Manifest:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def pod_templates(rayservice: Manifest) -> dict[str, Manifest]:
    """Pod templates by Ray group: ``head`` and each worker group's name."""
    cluster = rayservice["spec"]["rayClusterConfig"]
    templates = {"head": cluster["headGroupSpec"]["template"]}
    for group in cluster.get("workerGroupSpecs", []):
        templates[group["groupName"]] = group["template"]
    return templates


def serve_document(rayservice: Manifest) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    return document
