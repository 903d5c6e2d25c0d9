"""Assemble the routing pipeline from the typed config: used by the router replica and by
``switchboard route`` alike, so the offline answer is the served one."""

from pathlib import Path

from router.classifier.artifact import PredictorArtifact
from router.classifier.calibration import KnobCalibration
from router.classifier.model import Candidate, QualityPredictor
from router.config import SwitchboardConfig
from router.routing.filters import default_filters
from router.routing.picker import HighestTotalPicker
from router.routing.pipeline import RoutingPipeline
from router.routing.policy import KnobPolicy
from router.routing.rules import RuleBook
from router.routing.scorers import SCORERS
from router.routing.scorers.cost import EXPECTED_COMPLETION_TOKENS
from router.routing.targets import RouteTarget, embedding_targets, route_targets
from router.routing.tokens import PromptTokenCounter

_TYPICAL_PROMPT_TOKENS = 500  # orders the fleet by price for the knob's calibration


def build_pipeline(
    config: SwitchboardConfig,
    models_dir: Path,
    enabled: set[str],
    predictor: QualityPredictor | None = None,
) -> RoutingPipeline:
    """``enabled``: the model ids that serve (an external provider may be switched off);
    ``predictor``: default, the artifact named in the config."""
    settings = config.router
    targets = route_targets(config, enabled)
    if predictor is None:
        predictor = load_predictor(settings.classifier.artifact)
    fleet = [Candidate(t.id, t.quality_tier) for t in targets]
    cheapest = min(targets, key=_typical_price)
    return RoutingPipeline(
        targets=targets,
        rules=RuleBook(settings.rules),
        counter=PromptTokenCounter.from_config(config, models_dir),
        filters=default_filters(),
        predictor=predictor,
        calibration=KnobCalibration(
            predictor, fleet, Candidate(cheapest.id, cheapest.quality_tier)
        ),
        policy=KnobPolicy(settings.policy),
        scorers={SCORERS[name](targets): weight for name, weight in settings.scorers.items()},
        picker=HighestTotalPicker(),
        embedding_ids=frozenset(t.id for t in embedding_targets(config, enabled)),
    )


def load_predictor(artifact: Path) -> QualityPredictor:
    # Imported here: the encoders import torch and transformers.
    from router.classifier.encoders import load_encoder

    loaded = PredictorArtifact.load(artifact)
    return QualityPredictor(loaded, load_encoder(loaded.encoder))


def _typical_price(target: RouteTarget) -> float:
    cost = target.cost
    return (
        _TYPICAL_PROMPT_TOKENS * cost.input_per_mtok
        + EXPECTED_COMPLETION_TOKENS * cost.output_per_mtok
    )
