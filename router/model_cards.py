"""``/v1/models`` entries, from the config and the models that actually serve."""

from collections.abc import Mapping
from typing import Any

from router.config import SwitchboardConfig
from serving.engine import Engine


def model_cards(
    config: SwitchboardConfig, engines: Mapping[str, Engine]
) -> tuple[dict[str, Any], ...]:
    """``/v1/models`` entries: every servable model, then the routing aliases."""
    windows = {m.id: m.context_window for m in config.models}
    windows |= {p.id: p.context_window for p in config.external_providers}
    cards = [_card(model_id, "switchboard", windows[model_id]) for model_id in engines]
    # An alias can reach every serving model: advertise the largest window among them.
    widest = max(windows[model_id] for model_id in engines)
    cards += [_card(alias, "switchboard-router", widest) for alias in config.router.aliases]
    return tuple(cards)


def _card(model_id: str, owner: str, context_window: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": owner,
        "context_window": context_window,
    }
