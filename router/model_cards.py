"""``/v1/models`` entries, from the route targets (the models that actually serve, as
routing sees them) and the aliases, as each key may see them."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from router.policy_config import KeyPolicy
from router.routing.targets import EmbeddingTarget, RouteTarget


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


def model_cards(
    targets: Sequence[RouteTarget],
    embedding: Sequence[EmbeddingTarget],
    aliases: Iterable[str],
) -> tuple[ModelCard, ...]:
    """Every serving model (``targets``, then the ``embedding`` ones), then the routing
    aliases."""
    cards = [
        ModelCard(_entry(t.id, "switchboard", t.context_window), external=t.external)
        for t in targets
    ]
    cards += [ModelCard(_entry(t.id, "switchboard", t.context_window)) for t in embedding]
    # An alias can reach every serving model: advertise the largest window among them.
    widest = max(t.context_window for t in targets)
    cards += [
        ModelCard(_entry(alias, "switchboard-router", widest), alias=True) for alias in aliases
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
