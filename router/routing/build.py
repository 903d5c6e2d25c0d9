"""Assemble the routing pipeline from the typed config: used by the router replica and by
``switchboard route`` alike, so the offline answer is the served one."""

from pathlib import Path

from router.classifier.artifact import ClassifierArtifact
from router.classifier.embedder import Embedder, packaged_model_dir
from router.classifier.model import RoutingClassifier
from router.config import SwitchboardConfig
from router.routing.filters import default_filters
from router.routing.picker import CheapestAdequatePicker
from router.routing.pipeline import RoutingPipeline
from router.routing.policy import KnobPolicy
from router.routing.rules import RuleBook
from router.routing.scorers.cost import CostScorer
from router.routing.scorers.quality import QualityScorer
from router.routing.targets import route_targets
from router.routing.tokens import PromptTokenCounter


def build_pipeline(
    config: SwitchboardConfig,
    models_dir: Path,
    enabled: set[str],
    classifier: RoutingClassifier | None = None,
) -> RoutingPipeline:
    """``enabled``: the model ids that serve (an external provider may be switched off);
    ``classifier``: default, the artifact named in the config."""
    settings = config.router
    targets = route_targets(config, enabled)
    if classifier is None:
        classifier = load_classifier(settings.classifier.artifact)
    return RoutingPipeline(
        targets=targets,
        rules=RuleBook(settings.rules),
        counter=PromptTokenCounter.from_config(config, models_dir),
        filters=default_filters(settings.policy),
        classifier=classifier,
        small_max_tier=settings.classifier.small_max_tier,
        policy=KnobPolicy(settings.policy),
        scorers=(QualityScorer(settings.classifier.small_max_tier), CostScorer(targets)),
        picker=CheapestAdequatePicker(),
    )


def load_classifier(artifact: Path) -> RoutingClassifier:
    return RoutingClassifier(ClassifierArtifact.load(artifact), Embedder(packaged_model_dir()))
