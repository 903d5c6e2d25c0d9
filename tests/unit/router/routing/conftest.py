"""Real routing parts for the stage tests: the default fleet's config and tokenizers, the
real ``static`` prompt encoder, and predictor artifacts whose parameters make decisions
predictable.

``positioned_artifact(position)``: zero weights, so every prompt gets the same item,
and a calibration set of 101 items evenly spread in slope logit. The prompt's item sits
at ``position`` (0..1) along that spread, with difficulty 0 throughout, so on any fleet
the cheapest model's shortfall grows with the position and a knob of share ``s`` sends
the prompt away from the cheapest model exactly when ``position > 1 - s``.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from harness.configs import default_fleet_raw
from router.auth import ANONYMOUS, Caller
from router.classifier.artifact import PredictorArtifact
from router.classifier.calibration import KnobCalibration
from router.classifier.model import Candidate, QualityPredictor
from router.config import SwitchboardConfig
from router.config_loader import parse_config
from router.http.translate import chat_request
from router.openai_types import ChatCompletionRequest
from router.policy_config import PolicySettings
from router.routing.build import build_pipeline
from router.routing.facts import RequestFacts
from router.routing.filters import default_filters
from router.routing.picker import HighestTotalPicker
from router.routing.pipeline import RoutingPipeline
from router.routing.policy import KnobPolicy
from router.routing.rules import RuleBook
from router.routing.stages import Scorer
from router.routing.targets import RouteTarget, route_targets
from router.routing.tokens import PromptTokenCounter
from serving.weights import default_models_dir
from tests.predictors import QWEN, SMOL, artifact, static_encoder

EXTERNAL = "external"
FLEET = {SMOL, QWEN, EXTERNAL}
ABILITY = {SMOL: 0.0, QWEN: 1.0, EXTERNAL: 4.0}  # learned, learned, tier 5 on the line
LOW_LOGIT, HIGH_LOGIT = -6.0, 3.0  # the calibration spread in slope logit


def position_logit(position: float) -> float:
    return LOW_LOGIT + (HIGH_LOGIT - LOW_LOGIT) * position


def positioned_artifact(position: float) -> PredictorArtifact:
    spread = np.linspace(LOW_LOGIT, HIGH_LOGIT, 101)
    calibration = np.stack([spread, np.zeros_like(spread)], axis=1)
    return artifact(slope_bias=position_logit(position), calibration=calibration)


def predictor(art: PredictorArtifact) -> QualityPredictor:
    return QualityPredictor(art, static_encoder())


def fleet_config(**router: Any) -> SwitchboardConfig:
    raw = default_fleet_raw()
    raw["router"].update(router)
    return parse_config(raw)


PipelineFor = Callable[..., RoutingPipeline]


@pytest.fixture(scope="session")
def pipeline_for() -> PipelineFor:
    """``pipeline_for(position, config=..., enabled=...)``: a real pipeline (as
    ``build_pipeline`` assembles it) whose predictor is ``positioned_artifact``."""

    def build(
        position: float = 0.5,
        config: SwitchboardConfig | None = None,
        enabled: set[str] = FLEET,
    ) -> RoutingPipeline:
        return build_pipeline(
            config or fleet_config(),
            default_models_dir(),
            enabled,
            predictor=predictor(positioned_artifact(position)),
        )

    return build


def runner(
    scorers: Mapping[Scorer, float],
    art: PredictorArtifact | None = None,
    enabled: set[str] = FLEET,
) -> RoutingPipeline:
    """A pipeline with the given scorers and weights, no token counting."""
    config = fleet_config()
    targets = route_targets(config, enabled)
    quality = predictor(art or positioned_artifact(0.5))
    fleet = [Candidate(t.id, t.quality_tier) for t in targets]
    return RoutingPipeline(
        targets=targets,
        rules=RuleBook(config.router.rules),
        counter=PromptTokenCounter({}),
        filters=default_filters(),
        predictor=quality,
        calibration=KnobCalibration(quality, fleet, fleet[0]),
        policy=KnobPolicy(config.router.policy),
        scorers=scorers,
        picker=HighestTotalPicker(),
    )


def facts(
    model: str = "auto",
    *,
    caller: Caller = ANONYMOUS,
    headers: dict[str, str] | None = None,
    aliases: dict[str, Any] | None = None,
    policy: PolicySettings | None = None,
    **body: Any,
) -> RequestFacts:
    """Facts as the API builds them, from an OpenAI request body (``policy``: default,
    the default fleet's, whose headers are ``x-switchboard-quality``/``-local-only``)."""
    body.setdefault("messages", [{"role": "user", "content": "What is the capital of France?"}])
    request = ChatCompletionRequest.model_validate({"model": model, **body})
    aliases = aliases if aliases is not None else {"auto": None, "auto-economy": "economy"}
    return RequestFacts.of_request(
        request,
        chat_request(request, "test"),
        caller=caller,
        headers=headers or {},
        aliases=aliases,
        policy=policy or PolicySettings(),
    )


def target(model_id: str) -> RouteTarget:
    [found] = [t for t in route_targets(fleet_config(), FLEET) if t.id == model_id]
    return found
