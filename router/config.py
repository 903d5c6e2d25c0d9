"""The ``models.yaml`` schema: typed once at the edge, frozen, strict.

Inner code receives ``SwitchboardConfig`` (never dicts). Cross-field rules (unique ids,
the default model exists, aliases do not shadow ids) live here so a broken file fails at
start-up, not on the first request that touches the bad part.
"""

from typing import Self

from pydantic import Field, model_validator

from serving.config import ExternalProviderConfig, LocalModelConfig, ModelId, StrictModel

MiB = 1024 * 1024


class RouterSettings(StrictModel):
    default_model: ModelId = Field(description="where `auto` and the other aliases route")
    aliases: list[ModelId] = Field(default_factory=lambda: ["auto"])
    max_body_bytes: int = Field(4 * MiB, ge=1024, le=256 * MiB)
    num_replicas: int = Field(1, ge=1)
    max_ongoing_requests: int = Field(256, ge=1, le=100_000)


class AuthSettings(StrictModel):
    """Where API keys come from. Keys themselves never live in models.yaml."""

    api_keys_env: str | None = "SWITCHBOARD_API_KEYS"
    api_keys_file_env: str | None = "SWITCHBOARD_API_KEYS_FILE"


class SwitchboardConfig(StrictModel):
    router: RouterSettings
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
        if self.router.default_model not in ids:
            raise ValueError(
                f"router.default_model {self.router.default_model!r} is not a declared "
                f"model id (declared: {', '.join(sorted(ids))})"
            )
        for alias in self.router.aliases:
            if alias in ids:
                raise ValueError(f"router.aliases: {alias!r} is already a model id")
        return self

    def all_ids(self) -> list[str]:
        return [m.id for m in self.models] + [p.id for p in self.external_providers]

    def local_model(self, model_id: str) -> LocalModelConfig | None:
        return next((m for m in self.models if m.id == model_id), None)
