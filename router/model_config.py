"""The ``models.yaml`` entries: what serving needs to run a model (``serving.config``)
plus the router's policy for it: quality tier, cost, when a local model counts as
saturated, when a failing provider is kept out, and which tokenizer counts a provider's
prompts."""

from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from serving.config import LocalEngineConfig, ModelId, ProviderEngineConfig, StrictModel


def _seconds_or_auto(value: object) -> object:
    """One clear problem for a bad target, not one per member of the union."""
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError("must be a number of seconds above 0, or auto")
    return value


TtftTarget = Annotated[float | Literal["auto"] | None, BeforeValidator(_seconds_or_auto)]


class Cost(StrictModel):
    """Relative cost in any currency unit per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)

    def of(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What that many tokens cost at these prices."""
        prompt = prompt_tokens * self.input_per_mtok
        return (prompt + completion_tokens * self.output_per_mtok) / 1e6


class SaturationRules(StrictModel):
    """When the router stops sending a model more work and overflows instead (defaults in
    the spirit of llm-d's: a queue of 5 per replica, KV cache 80 % full). Stale load
    counts as saturated: a router that cannot see a model must not pile onto it."""

    max_waiting_per_replica: float = Field(
        5.0, ge=0, description="0: never queue, overflow once no batch slot is free"
    )
    max_kv_cache_usage: float = Field(0.8, gt=0, le=1)
    ttft_target_s: TtftTarget = Field(
        None,
        description="overflow when the predicted time to first token here exceeds this,"
        " in place of max_waiting_per_replica (null: the queue rule; auto: twice the p95"
        " TTFT this router measured on the model while it was idle, the queue rule until"
        " it has measured enough)",
    )
    ttft_quantile: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="the share of requests a TTFT target holds for: the predicted TTFT is"
        " scaled by a margin learned so that this share of local requests meet the target"
        " (lower overflows less and misses more)",
    )
    stale_after_s: float = Field(1.0, gt=0)
    backpressure_hold_s: float = Field(0.5, ge=0, description="after a full-queue refusal")


class CircuitBreakerSettings(StrictModel):
    failure_threshold: int = Field(5, ge=1, description="consecutive failures that open it")
    open_s: float = Field(30.0, gt=0, description="how long it stays open before a probe")
    max_open_s: float = Field(
        300.0, gt=0, description="the longest a provider's Retry-After may keep it open"
    )


class LocalModelConfig(LocalEngineConfig):
    """One ``models`` entry: the model serving runs, plus how the router weighs it."""

    quality_tier: int | None = Field(
        None, ge=1, le=10, description="higher is better; a model that generates needs one"
    )
    cost: Cost
    saturation: SaturationRules = SaturationRules()

    @model_validator(mode="after")
    def _a_model_that_generates_has_a_tier(self) -> Self:
        if self.task == "generate" and self.quality_tier is None:
            raise ValueError("quality_tier: a model that generates needs one (1-10)")
        if self.task == "embed" and self.quality_tier is not None:
            raise ValueError("quality_tier: an embedding model is never ranked: remove it")
        return self

    @property
    def tier(self) -> int:
        """The quality tier of a model that generates (validated present for those)."""
        if self.quality_tier is None:
            raise ValueError(f"{self.id} is an embedding model: it has no quality tier")
        return self.quality_tier


class ExternalProviderConfig(ProviderEngineConfig):
    """One ``external_providers`` entry: the provider serving connects to, plus how the
    router weighs it and keeps it out while it fails."""

    quality_tier: int = Field(ge=1, le=10)
    cost: Cost
    count_tokens_with: ModelId | None = Field(
        None, description="a local model whose tokenizer counts prompts for this provider"
    )
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
