"""The rendered objects fit together: every Ray pod has what the application reads, the
fleet fits the worker pods, and Prometheus, Grafana and clients find what they need."""

import json
import posixpath
from typing import Any

import pytest

from router.config_loader import load_config
from tests.k8s.manifests import (
    OVERLAYS_DIR,
    Manifest,
    pod_templates,
    serve_document,
    the_one,
)

SERVE_PORT = 8000
RAY_METRICS_PORT = 8080


def app_args(rayservice: Manifest) -> dict[str, str]:
    args: dict[str, str] = serve_document(rayservice)["applications"][0]["args"]
    return args


def mounted_volumes(pod: Manifest, container: Manifest) -> dict[str, Manifest]:
    """The container's volumes by mount path."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    return {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}


def ray_container(template: Manifest) -> Manifest:
    container: Manifest = template["spec"]["containers"][0]  # KubeRay: Ray runs in the first
    return container


def capacity(template: Manifest) -> tuple[float, float]:
    """(CPUs, GPUs) Ray sees in a pod: KubeRay takes them from the container's limits."""
    limits = ray_container(template).get("resources", {}).get("limits", {})
    cpu = str(limits.get("cpu", "0"))
    cpus = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    return cpus, float(limits.get("nvidia.com/gpu", 0))


def worker_capacities(rayservice: Manifest) -> dict[str, tuple[float, float]]:
    templates = pod_templates(rayservice)
    return {group: capacity(t) for group, t in templates.items() if group != "head"}


def model_deployments(rayservice: Manifest) -> list[dict[str, Any]]:
    deployments = serve_document(rayservice)["applications"][0]["deployments"]
    return [d for d in deployments if "ray_actor_options" in d]


def test_every_ray_pod_mounts_what_the_application_reads(
    manifests: list[Manifest], rayservice: Manifest, overlay: str
) -> None:
    """Router replicas and the app build can land on any node, so each pod needs the
    fleet file, the weights and the client keys where the serve config says."""
    args = app_args(rayservice)
    keys_env = load_config(OVERLAYS_DIR / overlay / "models.yaml").auth.api_keys_file_env
    for group, template in pod_templates(rayservice).items():
        container = ray_container(template)
        mounts = mounted_volumes(template["spec"], container)
        fleet = mounts[posixpath.dirname(args["config_path"])]["configMap"]["name"]
        fleet_data = next(m["data"] for m in manifests if m["metadata"]["name"] == fleet)
        assert posixpath.basename(args["config_path"]) in fleet_data, group
        assert "persistentVolumeClaim" in mounts[args["models_dir"]], group
        env = {var["name"]: var.get("value") for var in container["env"]}
        assert "secret" in mounts[posixpath.dirname(env[keys_env])], group


def test_every_ray_pod_has_the_same_environment(rayservice: Manifest) -> None:
    containers = [ray_container(t) for t in pod_templates(rayservice).values()]
    assert all(c["env"] == containers[0]["env"] for c in containers)
    assert all(c["envFrom"] == containers[0]["envFrom"] for c in containers)


def test_head_prepares_the_weights_before_ray_starts(rayservice: Manifest) -> None:
    args = app_args(rayservice)
    head = pod_templates(rayservice)["head"]["spec"]
    (prepare,) = head["initContainers"]
    command = prepare["command"]
    assert command[:3] == ["switchboard", "models", "prepare"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options == {"--config": args["config_path"], "--models-dir": args["models_dir"]}
    writable = [m for m in prepare["volumeMounts"] if m["mountPath"] == args["models_dir"]]
    assert writable and not writable[0].get("readOnly", False)


def test_head_runs_no_replicas_and_workers_autoscale(rayservice: Manifest) -> None:
    cluster = rayservice["spec"]["rayClusterConfig"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert cluster["enableInTreeAutoscaling"] is True
    for group in cluster["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_every_model_replica_fits_a_worker_pod(rayservice: Manifest) -> None:
    workers = worker_capacities(rayservice).values()
    for deployment in model_deployments(rayservice):
        actor = deployment["ray_actor_options"]
        need = (actor["num_cpus"], actor["num_gpus"])
        fits = any(cpus >= need[0] and gpus >= need[1] for cpus, gpus in workers)
        assert fits, f"{deployment['name']} needs {need} (CPUs, GPUs)"


def test_fleet_at_its_largest_fits_the_largest_cluster(rayservice: Manifest) -> None:
    """Necessary, not sufficient (no bin packing): the worker groups at maxReplicas hold
    every model at its most replicas."""
    cluster = rayservice["spec"]["rayClusterConfig"]
    sizes = {g["groupName"]: g["maxReplicas"] for g in cluster["workerGroupSpecs"]}
    workers = worker_capacities(rayservice)
    available = [sum(sizes[g] * cap[i] for g, cap in workers.items()) for i in (0, 1)]
    needed = [0.0, 0.0]
    for deployment in model_deployments(rayservice):
        autoscaling = deployment.get("autoscaling_config")
        replicas = autoscaling["max_replicas"] if autoscaling else deployment["num_replicas"]
        needed[0] += replicas * deployment["ray_actor_options"]["num_cpus"]
        needed[1] += replicas * deployment["ray_actor_options"]["num_gpus"]
    assert needed[0] <= available[0] and needed[1] <= available[1], (needed, available)


@pytest.mark.parametrize("overlay", ["gpu"], indirect=True)
def test_gpu_overlay_serves_vllm_on_gpu_workers(rayservice: Manifest, overlay: str) -> None:
    assert all(gpus > 0 for _, gpus in worker_capacities(rayservice).values())
    fleet = load_config(OVERLAYS_DIR / overlay / "models.yaml")
    assert {model.engine for model in fleet.models} == {"vllm"}


@pytest.mark.parametrize("overlay", ["cpu-dev"], indirect=True)
def test_cpu_dev_overlay_needs_no_gpu(rayservice: Manifest, overlay: str) -> None:
    assert "nvidia.com/gpu" not in json.dumps(rayservice)
    fleet = load_config(OVERLAYS_DIR / overlay / "models.yaml")
    engines = {model.engine for model in fleet.models if model.task == "generate"}
    assert engines == {"vllm"}  # vLLM's CPU build


def test_openai_service_exposes_the_serve_port(rayservice: Manifest) -> None:
    service = rayservice["spec"]["serveService"]
    assert service["spec"]["ports"] == [{"name": "serve", "port": SERVE_PORT}]
    head_ports = ray_container(pod_templates(rayservice)["head"])["ports"]
    assert {"name": "serve", "containerPort": SERVE_PORT} in head_ports


def test_prometheus_scrapes_every_ray_pod(manifests: list[Manifest], rayservice: Manifest) -> None:
    monitor = the_one(manifests, "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    for group, template in pod_templates(rayservice).items():
        assert selector.items() <= template["metadata"]["labels"].items(), group
        ports = {p["name"]: p["containerPort"] for p in ray_container(template)["ports"]}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert ports.get(endpoint["port"]) == RAY_METRICS_PORT, group


def test_grafana_finds_the_dashboard(manifests: list[Manifest]) -> None:
    labelled = [m for m in manifests if m["metadata"].get("labels", {}).get("grafana_dashboard")]
    (dashboard,) = labelled
    (content,) = dashboard["data"].values()
    assert json.loads(content)["title"]
