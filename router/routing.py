"""Which model serves a request.

For now a concrete model id pins that model and every configured alias (``auto``, ...)
goes to the fleet's default model; the classifier and the filter/scorer pipeline replace
the alias branch in their own issue, behind the same ``resolve`` call.
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from router.config import RouterSettings
from router.errors import ModelNotFound, ServiceUnavailable

RouteReason = Literal["pinned", "default"]


@dataclass(frozen=True)
class RouteDecision:
    model_id: str
    reason: RouteReason


class ModelResolver:
    def __init__(self, settings: RouterSettings, available: Collection[str]) -> None:
        self._aliases = frozenset(settings.aliases)
        self._default = settings.default_model
        self._available = frozenset(available)

    def resolve(self, requested: str) -> RouteDecision:
        if requested in self._available:
            return RouteDecision(model_id=requested, reason="pinned")
        if requested in self._aliases:
            if self._default not in self._available:  # e.g. an external provider left off
                raise ServiceUnavailable(
                    f"The default model '{self._default}' is not enabled.", param="model"
                )
            return RouteDecision(model_id=self._default, reason="default")
        raise ModelNotFound(
            f"The model '{requested}' does not exist or you do not have access to it.",
            param="model",
        )
