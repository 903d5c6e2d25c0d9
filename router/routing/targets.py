"""What the router knows about each model it may choose: capabilities, tier and cost,
flattened from the local-model and external-provider configs into one shape; and, apart,
the embedding models (``task: embed``), which no chat request may reach."""

from dataclasses import dataclass

from router.config import SwitchboardConfig
from router.model_config import Cost, ExternalProviderConfig, LocalModelConfig
from serving.engine import NEUTRAL_ADJUSTMENTS
from serving.engines import ENGINES


@dataclass(frozen=True)
class RouteTarget:
    id: str
    external: bool
    context_window: int
    max_output_tokens: int | None
    quality_tier: int
    cost: Cost
    supports_tools: bool
    vision: bool
    json_output: bool  # can guarantee `response_format` JSON
    adjustments: frozenset[str]  # the sampling adjustments it honours (or is sent)


@dataclass(frozen=True)
class EmbeddingTarget:
    id: str
    context_window: int  # tokens per input
    cost: Cost


def route_targets(config: SwitchboardConfig, enabled: set[str]) -> tuple[RouteTarget, ...]:
    """Targets for the models that generate and are actually serving (externals may be
    off)."""
    local = [_local(m) for m in config.models if m.id in enabled and m.task == "generate"]
    external = [_external(p) for p in config.external_providers if p.id in enabled]
    return tuple(local + external)


def embedding_targets(config: SwitchboardConfig, enabled: set[str]) -> tuple[EmbeddingTarget, ...]:
    """The embedding models that are serving."""
    return tuple(
        EmbeddingTarget(m.id, m.context_window, m.cost)
        for m in config.models
        if m.id in enabled and m.task == "embed"
    )


def _local(model: LocalModelConfig) -> RouteTarget:
    return RouteTarget(
        id=model.id,
        external=False,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        quality_tier=model.tier,
        cost=model.cost,
        supports_tools=model.supports_tools,
        vision=model.vision,
        json_output=ENGINES[model.engine].json_output,
        adjustments=ENGINES[model.engine].adjustments,
    )


def _external(provider: ExternalProviderConfig) -> RouteTarget:
    return RouteTarget(
        id=provider.id,
        external=True,
        context_window=provider.context_window,
        max_output_tokens=None,
        quality_tier=provider.quality_tier,
        cost=provider.cost,
        supports_tools=provider.supports_tools,
        vision=provider.vision,
        json_output=provider.json_output,
        adjustments=frozenset(NEUTRAL_ADJUSTMENTS),
    )
