"""The example GPU fleet (models.gpu.yaml) is a valid config, maps to the intended Ray
Serve options, and routes `auto` with the quality predictor and the knob. Its weights
live on a cluster volume, so they are not checked here."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from harness.configs import REPO
from router.config import SwitchboardConfig
from router.config_loader import load_config
from router.routing.build import build_pipeline
from router.routing.decision import Decision
from router.routing.pipeline import RoutingPipeline
from router.routing.tokens import PromptTokenCounter
from serving.replica import deployment_options
from tests.unit.router.routing.conftest import facts

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


# `auto` on the GPU fleet. Its weights are on a cluster volume, so every model counts
# prompt tokens with SmolLM2's tokenizer here (a stand-in: only the counts' scale
# matters to the cost scorer). The external provider is enabled, as with its env set.
CODE = "Write a Python function that parses an ISO 8601 date and returns a datetime."
PROMPTS = [
    # code
    CODE,
    "Fix this: def add(a, b): return a - b",
    "Implement a thread-safe LRU cache in Java with O(1) get and put.",
    "Write a bash one-liner that counts lines in every .py file under src/.",
    "Explain what this regex matches: ^(?=.*\\d)(?=.*[a-z]).{8,}$",
    "Convert this Python loop into a list comprehension: out = []\nfor x in xs: out.append(x*2)",
    "Write a Go HTTP server with graceful shutdown and request timeouts.",
    "Why does my React component re-render on every keystroke?",
    "Write a CUDA kernel for a tiled matrix multiplication and explain the tiling.",
    "Write unit tests for a function that validates email addresses.",
    # math
    "What is 7 times 8?",
    "Solve 2x^2 - 3x - 5 = 0.",
    "What is the probability of two sixes when rolling two dice?",
    "Prove that there are infinitely many primes.",
    "Find the eigenvalues of [[2, 1], [1, 2]].",
    "A bat and a ball cost $1.10; the bat costs $1 more than the ball. What does the ball cost?",
    "Compute the limit of (1 + 1/n)^n as n goes to infinity, and justify it.",
    "How many ways can 5 people sit around a round table?",
    "Evaluate the integral of ln(x) from 1 to e.",
    "Show that every bounded monotone sequence of real numbers converges.",
    # trivia
    "What is the capital of Australia?",
    "Who discovered penicillin?",
    "What is the boiling point of water at sea level in Fahrenheit?",
    "Which planet has the most moons?",
    "When was the Magna Carta signed?",
    "What language is spoken in Brazil?",
    "Who was the first person to walk on the Moon?",
    "What is the chemical symbol for gold?",
    "How tall is Mount Everest?",
    "Which composer wrote the Four Seasons?",
    # chit-chat
    "hi",
    "hello there!",
    "how are you today?",
    "thanks!",
    "good night",
    "What's your favourite colour?",
    "Tell me a fun fact.",
    "I'm bored, any ideas?",
    "Can you recommend a good book?",
    "lol that's funny",
]


@pytest.fixture(scope="module")
def gpu_auto(smol_model_dir: Path) -> tuple[SwitchboardConfig, RoutingPipeline]:
    config = load_config(GPU_FLEET)
    serving = {m.id for m in config.models} | {p.id for p in config.external_providers}
    stand_in = AutoTokenizer.from_pretrained(smol_model_dir)

    def counter(_config: SwitchboardConfig, _models_dir: Path) -> PromptTokenCounter:
        return PromptTokenCounter(dict.fromkeys(serving, stand_in))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PromptTokenCounter, "from_config", counter)
        return config, build_pipeline(config, Path("/models"), enabled=serving)


def decide(
    gpu_auto: tuple[SwitchboardConfig, RoutingPipeline],
    text: str,
    model: str = "auto",
    knob: str | None = None,
) -> Decision:
    config, pipeline = gpu_auto
    headers = {} if knob is None else {"x-switchboard-quality": knob}
    messages = [{"role": "user", "content": text}]
    request = facts(
        model,
        headers=headers,
        aliases=config.router.aliases,
        policy=config.router.policy,
        messages=messages,
    )
    return pipeline.decide(request)


def test_auto_on_the_gpu_fleet_uses_the_estimate(
    gpu_auto: tuple[SwitchboardConfig, RoutingPipeline],
) -> None:
    ids = {"qwen2.5-7b-instruct", "llama-3.3-70b-instruct", "external"}
    code, hello = decide(gpu_auto, CODE), decide(gpu_auto, "hi")
    for decision in (code, hello):
        assert decision.route == "classifier" and decision.estimate is not None
        assert set(decision.estimate.quality) == ids
        # No labels for any GPU-fleet model: every estimate comes from the tier line.
        assert set(decision.estimate.prior) == ids
        quality = decision.estimate.quality
        # Tiers 3 < 5 < 6: never predicted worse for a higher tier.
        assert quality["qwen2.5-7b-instruct"] <= quality["llama-3.3-70b-instruct"]
        assert quality["llama-3.3-70b-instruct"] <= quality["external"]
    assert code.estimate is not None and hello.estimate is not None
    assert all(code.estimate.quality[m] != hello.estimate.quality[m] for m in ids)


def test_the_knob_moves_the_share_on_the_gpu_fleet(
    gpu_auto: tuple[SwitchboardConfig, RoutingPipeline],
) -> None:
    floor = "qwen2.5-7b-instruct"  # the cheapest

    def share(knob: str) -> float:
        chosen = [decide(gpu_auto, text, knob=knob).model_id for text in PROMPTS]
        return sum(model != floor for model in chosen) / len(chosen)

    shares = {knob: share(knob) for knob in ("0", "0.2", "0.8", "1")}
    assert shares["0"] == 0.0
    assert shares["0.2"] < shares["0.8"]
    assert shares["1"] == 1.0


def test_the_alias_carries_the_same_knob_as_the_header(
    gpu_auto: tuple[SwitchboardConfig, RoutingPipeline],
) -> None:
    for text in PROMPTS[::5]:
        by_alias = decide(gpu_auto, text, model="auto-quality")
        by_header = decide(gpu_auto, text, knob="0.8")
        assert by_alias.knob is not None and by_alias.knob.source == "alias"
        assert by_alias.model_id == by_header.model_id
        assert by_header.knob is not None
        assert by_alias.knob.tolerance == by_header.knob.tolerance
