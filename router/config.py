"""The ``models.yaml`` schema: typed once at the edge, frozen, strict.

Inner code receives ``SwitchboardConfig`` (never dicts). Cross-field rules (unique ids,
aliases do not shadow ids, rules and key policies name real models and presets) live
here so a broken file fails at start-up, not on the first request that touches it.
"""

from collections.abc import Iterator
from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from router.model_config import ExternalProviderConfig, LocalModelConfig
from router.policy_config import (
    DEFAULT_SCORER_WEIGHTS,
    ClassifierSettings,
    KeyPolicy,
    Knob,
    PolicySettings,
    RoutingRule,
    SpendBudget,
    check_knob,
)
from serving.config import ModelId, StrictModel

MiB = 1024 * 1024
DEFAULT_ALIASES: dict[str, Knob | None] = {
    "auto": None,  # the deployment's default knob
    "auto-economy": "economy",
    "auto-quality": "quality",
}


class RouterSettings(StrictModel):
    # alias -> knob (None: the deployment default); an alias makes the router choose.
    aliases: dict[ModelId, Knob | None] = Field(default_factory=lambda: dict(DEFAULT_ALIASES))
    policy: PolicySettings = PolicySettings()
    classifier: ClassifierSettings = ClassifierSettings()
    scorers: dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=lambda: dict(DEFAULT_SCORER_WEIGHTS),
        description="scorer name -> weight (router/routing/scorers; names checked on load)",
    )
    rules: list[RoutingRule] = Field(default_factory=list, description="evaluated in order")
    log_prompts: bool = Field(False, description="put prompt text in decision logs")
    load_poll_interval_s: float = Field(0.25, gt=0, le=5, description="engine stats refresh")
    max_body_bytes: int = Field(4 * MiB, ge=1024, le=256 * MiB)
    num_replicas: int = Field(1, ge=1)
    max_ongoing_requests: int = Field(256, ge=1, le=100_000)
    request_timeout_s: float = Field(
        600.0, gt=0, description="a generation still running after this ends with a 503"
    )
    external_budget: SpendBudget = Field(
        SpendBudget(), description="the whole deployment's external (overflow) spend"
    )


class AuthSettings(StrictModel):
    """Where API keys come from. Keys themselves never live in models.yaml."""

    api_keys_env: str | None = "SWITCHBOARD_API_KEYS"
    api_keys_file_env: str | None = "SWITCHBOARD_API_KEYS_FILE"
    # By key name (`name:secret` in the env var or file); unnamed keys get no policy.
    keys: dict[str, KeyPolicy] = Field(default_factory=dict)


# Where LivePolicy's fields live in models.yaml: section -> keys.
LIVE_SECTIONS: dict[str, tuple[str, ...]] = {
    "router": ("aliases", "policy", "rules"),
    "auth": ("keys",),
}


class LivePolicy(StrictModel):
    """What changes on a running app without restarting a replica: ``router.aliases``,
    ``router.policy`` (the knob), ``router.rules`` and ``auth.keys``, in models.yaml's
    shape. It reaches the router replicas as their Ray Serve ``user_config``
    (``router.http.ingress``); everything else in models.yaml needs a new deployment."""

    aliases: dict[ModelId, Knob | None] = Field(default_factory=lambda: dict(DEFAULT_ALIASES))
    policy: PolicySettings = PolicySettings()
    rules: list[RoutingRule] = Field(default_factory=list)
    keys: dict[str, KeyPolicy] = Field(default_factory=dict)


class SwitchboardConfig(StrictModel):
    router: RouterSettings = RouterSettings()
    auth: AuthSettings = AuthSettings()
    models: list[LocalModelConfig] = Field(min_length=1)
    external_providers: list[ExternalProviderConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids_are_unique(self) -> Self:
        seen: set[str] = set()
        for model_id in self.all_ids():
            if model_id in seen:
                raise ValueError(f"duplicate model id {model_id!r}: ids must be unique")
            seen.add(model_id)
        return self

    @model_validator(mode="after")
    def _routing_targets_exist(self) -> Self:
        ids = set(self.all_ids())
        names = [rule.name for rule in self.router.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"router.rules: rule names must be unique (got {names})")
        for alias in self.router.aliases:
            if alias in ids:
                raise ValueError(f"router.aliases: {alias!r} is already a model id")
        for where, model_id in self._referenced_models():
            if model_id not in ids:
                raise ValueError(
                    f"{where}: {model_id!r} is not a declared model id "
                    f"(declared: {', '.join(sorted(ids))})"
                )
        for where, knob in self._referenced_knobs():
            check_knob(knob, self.router.policy, where)
        return self

    @model_validator(mode="after")
    def _a_model_generates(self) -> Self:
        if all(m.task == "embed" for m in self.models):
            raise ValueError("models: at least one local model must generate (task: generate)")
        return self

    @model_validator(mode="after")
    def _chat_routing_names_models_that_generate(self) -> Self:
        embedding = {m.id for m in self.models if m.task == "embed"}
        named = [(where, m) for where, m in self._referenced_models() if "rules" in where]
        named += [(f"external_providers[{p.id}].count_tokens_with", p.count_tokens_with)
                  for p in self.external_providers if p.count_tokens_with]  # fmt: skip
        for where, model_id in named:
            if model_id in embedding:
                raise ValueError(f"{where}: {model_id!r} is an embedding model (task: embed)")
        return self

    def _referenced_models(self) -> Iterator[tuple[str, str]]:
        for rule in self.router.rules:
            where = f"router.rules[{rule.name}].then"
            if rule.then.pin is not None:
                yield f"{where}.pin", rule.then.pin
            yield from ((f"{where}.restrict_to", m) for m in rule.then.restrict_to or [])
        for name, key in self.auth.keys.items():
            yield from ((f"auth.keys.{name}.allowed_models", m) for m in key.allowed_models or [])
        local_ids = {m.id for m in self.models}
        for provider in self.external_providers:
            counter = provider.count_tokens_with
            if counter is not None and counter not in local_ids:
                raise ValueError(
                    f"external_providers[{provider.id}].count_tokens_with: {counter!r} "
                    "is not a local model id"
                )

    def _referenced_knobs(self) -> Iterator[tuple[str, Knob]]:
        for alias, knob in self.router.aliases.items():
            if knob is not None:
                yield f"router.aliases.{alias}", knob
        for rule in self.router.rules:
            if rule.then.knob is not None:
                yield f"router.rules[{rule.name}].then.knob", rule.then.knob
        for name, key in self.auth.keys.items():
            if key.knob is not None:
                yield f"auth.keys.{name}.knob", key.knob

    def live_policy(self) -> LivePolicy:
        router = self.router
        return LivePolicy(
            aliases=router.aliases, policy=router.policy, rules=router.rules, keys=self.auth.keys
        )

    def with_live_policy(self, live: LivePolicy) -> "SwitchboardConfig":
        """This fleet under ``live``, validated whole: its rules and keys must name this
        fleet's models and presets (a ``ValidationError`` otherwise)."""
        raw = self.model_dump()
        policy = live.model_dump()
        for section, names in LIVE_SECTIONS.items():
            raw[section] |= {name: policy[name] for name in names}
        return SwitchboardConfig.model_validate(raw)

    def fleet_dump(self) -> dict[str, Any]:
        """Everything but the live policy, as JSON: what takes a redeploy to change."""
        live = {section: set(names) for section, names in LIVE_SECTIONS.items()}
        return self.model_dump(mode="json", exclude=live)

    def all_ids(self) -> list[str]:
        return [m.id for m in self.models] + [p.id for p in self.external_providers]

    def local_model(self, model_id: str) -> LocalModelConfig | None:
        return next((m for m in self.models if m.id == model_id), None)
