"""Where an embeddings request goes: the model it names, if that model embeds and the
key may use it. No classifier and no aliases: vectors of different models do not
compare, so the model the client names is the one that answers."""

from collections.abc import Iterable, Sequence

from router.policy_config import KeyPolicy
from router.routing.filters.key_policy import key_policy_refusal
from router.routing.refusal import Refusal, RoutingRefused
from router.routing.targets import EmbeddingTarget


class EmbeddingRoute:
    def __init__(self, targets: Sequence[EmbeddingTarget], chat_ids: Iterable[str]) -> None:
        """``chat_ids``: the models and aliases that serve chat, for a clear refusal."""
        self._targets = {t.id: t for t in targets}
        self._chat_ids = frozenset(chat_ids)

    def target(self, model_id: str, policy: KeyPolicy) -> EmbeddingTarget:
        """The model to embed with, or ``RoutingRefused``."""
        target = self._targets.get(model_id)
        if target is None:
            raise RoutingRefused(self._no_such_model(model_id))
        refusal = key_policy_refusal(policy, model_id)
        if refusal is not None:
            raise RoutingRefused(refusal)
        return target

    def _no_such_model(self, model_id: str) -> Refusal:
        if model_id in self._chat_ids:
            message = f"Model '{model_id}' serves chat and completions, not embeddings."
            return Refusal("task", "invalid", message, param="model")
        message = f"The model '{model_id}' does not exist or you do not have access to it."
        return Refusal("model_not_found", "not_found", message, param="model")
