"""Every rendered object passes the schema the cluster would check it against: the
KubeRay CRD for the RayService, Ray's own for its serveConfigV2, Kubernetes' for core
objects (strict: unknown fields are errors, as with ``kubectl apply``)."""

import json

import jsonschema
import kubernetes_validate
import pytest

from router.cli.serve_config import check_serve_config
from router.config_errors import ConfigError
from tests.k8s.manifests import (
    OVERLAYS_DIR,
    Manifest,
    pod_templates,
    rayservice_schema,
    serve_document,
)

# The oldest Kubernetes still in wide use, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
# KubeRay derives pod and service names from it; longer names break them.
MAX_RAYSERVICE_NAME = 47
# `kubectl apply` (client side) keeps the whole object in an annotation of this size.
MAX_APPLIED_BYTES = 262_144
# Custom resources whose schemas kubernetes-validate does not have: checked elsewhere
# (the RayService here, the PodMonitor by tests/k8s/test_wiring.py, the PrometheusRule by
# tests/k8s/test_alerts.py).
CUSTOM_KINDS = {"RayService", "PodMonitor", "PrometheusRule"}


def test_rayservice_matches_the_kuberay_crd(rayservice: Manifest) -> None:
    validator = jsonschema.Draft7Validator(rayservice_schema())
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(rayservice)]
    assert problems == []


def test_rayservice_name_is_short_enough(rayservice: Manifest) -> None:
    assert len(rayservice["metadata"]["name"]) <= MAX_RAYSERVICE_NAME


def test_serve_config_passes_ray_serve_checks(overlay: str, rayservice: Manifest) -> None:
    try:
        check_serve_config(serve_document(rayservice), source=f"{overlay} serveConfigV2")
    except ConfigError as exc:
        pytest.fail(str(exc))


def test_serve_config_is_the_overlays_generated_file(overlay: str, rayservice: Manifest) -> None:
    generated = (OVERLAYS_DIR / overlay / "serve-config.yaml").read_text()
    assert rayservice["spec"]["serveConfigV2"] == generated


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_pass_kubernetes_schemas(
    manifests: list[Manifest], rayservice: Manifest, version: str
) -> None:
    core = [m for m in manifests if m["kind"] not in CUSTOM_KINDS]
    # The RayService embeds core objects: its pod templates and its Service.
    core += [
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": group}, "template": t}
        for group, t in pod_templates(rayservice).items()
    ]
    core.append({"apiVersion": "v1", "kind": "Service", **rayservice["spec"]["serveService"]})
    problems = []
    for manifest in core:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = f"{manifest['kind']} {manifest['metadata']['name']}"
            problems.append(f"{where} {exc.json_path}: {exc.message}")
    assert problems == []


def test_objects_fit_kubectl_apply(manifests: list[Manifest]) -> None:
    sizes = {m["metadata"]["name"]: len(json.dumps(m)) for m in manifests}
    assert {name: size for name, size in sizes.items() if size >= MAX_APPLIED_BYTES} == {}
