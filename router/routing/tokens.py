"""Exact prompt token counts, per target, with that model's own tokenizer and chat
template (``count_prompt_tokens``, equal to the ``encode_prompt`` the local engines run),
never a character estimate.

An external provider is counted with the tokenizer of the local model named by its
``count_tokens_with``; without one it is not counted here and its own context error
comes back to the client (see README, "Routing").
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from router.config import SwitchboardConfig
from serving.engine import ChatPrompt, GenerationRequest
from serving.errors import InvalidPrompt
from serving.prompts import count_prompt_tokens
from serving.weights import prepared_dir

_WARM_UP = GenerationRequest("warm-up", ChatPrompt(({"role": "user", "content": "hi"},)))
# A count, or why the model's template refused the prompt.
TokenCount = int | InvalidPrompt


class PromptTokenCounter:
    def __init__(self, tokenizers: Mapping[str, Any]) -> None:
        self._tokenizers = dict(tokenizers)

    @classmethod
    def from_config(cls, config: SwitchboardConfig, models_dir: Path) -> "PromptTokenCounter":
        by_model = {
            m.id: AutoTokenizer.from_pretrained(prepared_dir(m, models_dir)) for m in config.models
        }
        for provider in config.external_providers:
            if provider.count_tokens_with is not None:
                by_model[provider.id] = by_model[provider.count_tokens_with]
        counter = cls(by_model)
        # The first encode of a tokenizer mutates its settings: not under concurrency.
        counter.count(list(by_model), _WARM_UP)
        return counter

    def count(self, target_ids: list[str], request: GenerationRequest) -> dict[str, TokenCount]:
        """Counts for the targets that have a tokenizer; one count per distinct tokenizer."""
        tools = list(request.tool_use.tools) if request.tool_use else None
        by_tokenizer: dict[int, TokenCount] = {}
        counts: dict[str, TokenCount] = {}
        for target_id in target_ids:
            tokenizer = self._tokenizers.get(target_id)
            if tokenizer is None:
                continue
            key = id(tokenizer)
            if key not in by_tokenizer:
                try:
                    by_tokenizer[key] = count_prompt_tokens(tokenizer, request.prompt, tools)
                except InvalidPrompt as exc:
                    by_tokenizer[key] = exc
            counts[target_id] = by_tokenizer[key]
        return counts
