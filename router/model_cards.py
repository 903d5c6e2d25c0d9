"""``/v1/models`` entries, from the config and the models that actually serve, as each
key may see them."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.config import SwitchboardConfig
from router.policy_config import KeyPolicy
from serving.engine import Engine


@dataclass(frozen=True)
class ModelCard:
    entry: dict[str, Any]  # the OpenAI model object
    external: bool = False
    alias: bool = False

    @property
    def id(self) -> str:
        return str(self.entry["id"])

    def visible_to(self, policy: KeyPolicy) -> bool:
        """Whether a key with ``policy`` may use it (and so sees it listed): the same
        limits the routing filters apply to a request naming it."""
        if self.alias:
            return True
        if self.external and not policy.allow_external:
            return False
        return policy.allowed_models is None or self.id in policy.allowed_models


def model_cards(config: SwitchboardConfig, engines: Mapping[str, Engine]) -> tuple[ModelCard, ...]:
    """Every servable model, then the routing aliases."""
    windows = {m.id: m.context_window for m in config.models}
    external = {p.id: p.context_window for p in config.external_providers}
    windows |= external
    cards = [
        ModelCard(_entry(model_id, "switchboard", windows[model_id]), external=model_id in external)
        for model_id in engines
    ]
    # An alias can reach every serving model: advertise the largest window among them.
    widest = max(windows[model_id] for model_id in engines)
    cards += [
        ModelCard(_entry(alias, "switchboard-router", widest), alias=True)
        for alias in config.router.aliases
    ]
    return tuple(cards)


def _entry(model_id: str, owner: str, context_window: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": owner,
        "context_window": context_window,
    }
