"""Real routing parts for the stage tests: the default fleet's config and tokenizers, and
a classifier whose artifact fixes P(small suffices) so decisions are predictable."""

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from router.auth import ANONYMOUS, Caller
from router.classifier.artifact import ClassifierArtifact
from router.classifier.embedder import Embedder, packaged_model_dir
from router.classifier.model import RoutingClassifier
from router.config import SwitchboardConfig
from router.config_loader import parse_config
from router.openai_types import ChatCompletionRequest
from router.routing.build import build_pipeline
from router.routing.facts import RequestFacts
from router.routing.pipeline import RoutingPipeline
from router.routing.targets import RouteTarget, route_targets
from router.translate import chat_request
from serving.weights import default_models_dir
from tests.builders import default_fleet_raw

SMOL, QWEN, EXTERNAL = "smollm2-135m", "qwen2.5-coder-0.5b", "external"
FLEET = {SMOL, QWEN, EXTERNAL}


def fixed_artifact(small_suffices: float) -> ClassifierArtifact:
    """Zero weights: every prompt gets ``small_suffices``; a uniform calibration table,
    so a knob of share s gives threshold s."""
    dimensions = 384
    return ClassifierArtifact(
        small_ok_weights=np.zeros(dimensions, dtype=np.float32),
        small_ok_bias=math.log(small_suffices / (1 - small_suffices)),
        category_weights=np.zeros((2, dimensions), dtype=np.float32),
        category_bias=np.array([0.0, 1.0], dtype=np.float32),
        categories=("code", "math"),
        calibration=np.linspace(0.0, 1.0, 101, dtype=np.float32),
    )


@pytest.fixture(scope="session")
def routing_embedder() -> Embedder:
    return Embedder(packaged_model_dir())


def fleet_config(**router: Any) -> SwitchboardConfig:
    raw = default_fleet_raw()
    raw["router"].update(router)
    return parse_config(raw)


PipelineFor = Callable[..., RoutingPipeline]


@pytest.fixture(scope="session")
def pipeline_for(routing_embedder: Embedder) -> PipelineFor:
    """``pipeline_for(small_suffices, config=..., enabled=...)``: a real pipeline."""

    def build(
        small_suffices: float = 0.5,
        config: SwitchboardConfig | None = None,
        enabled: set[str] = FLEET,
    ) -> RoutingPipeline:
        classifier = RoutingClassifier(fixed_artifact(small_suffices), routing_embedder)
        return build_pipeline(
            config or fleet_config(), default_models_dir(), enabled, classifier=classifier
        )

    return build


def facts(
    model: str = "auto",
    *,
    caller: Caller = ANONYMOUS,
    headers: dict[str, str] | None = None,
    aliases: dict[str, Any] | None = None,
    **body: Any,
) -> RequestFacts:
    """Facts as the API builds them, from an OpenAI request body."""
    body.setdefault("messages", [{"role": "user", "content": "What is the capital of France?"}])
    request = ChatCompletionRequest.model_validate({"model": model, **body})
    aliases = aliases if aliases is not None else {"auto": None, "auto-economy": "economy"}
    return RequestFacts.of_request(
        request,
        chat_request(request, "test"),
        caller=caller,
        headers=headers or {},
        aliases=aliases,
    )


def target(model_id: str) -> RouteTarget:
    [found] = [t for t in route_targets(fleet_config(), FLEET) if t.id == model_id]
    return found
