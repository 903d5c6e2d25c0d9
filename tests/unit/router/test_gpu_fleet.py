"""The example GPU fleet (models.gpu.yaml) is a valid config and maps to the intended
Ray Serve options. Its weights live on a cluster volume, so they are not checked here."""

from router.config_loader import load_config
from serving.deployment import deployment_options
from tests.builders import REPO

GPU_FLEET = REPO / "models.gpu.yaml"


def test_gpu_fleet_is_valid() -> None:
    config = load_config(GPU_FLEET)
    assert {m.engine for m in config.models} == {"vllm"}
    assert [p.id for p in config.external_providers] == ["external"]


def test_autoscaled_single_gpu_model() -> None:
    model = load_config(GPU_FLEET).models[0]
    options = deployment_options(model)
    assert options["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 32,
    }
    assert "num_replicas" not in options
    assert options["ray_actor_options"] == {"num_cpus": 4, "num_gpus": 1}
    assert options["max_queued_requests"] == 128


def test_tensor_parallel_model_gets_all_its_gpus() -> None:
    model = load_config(GPU_FLEET).models[1]
    assert model.vllm.tensor_parallel_size == 4
    assert deployment_options(model)["ray_actor_options"]["num_gpus"] == 4
