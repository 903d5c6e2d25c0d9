"""Exact prompt token counts, per target, with that model's own tokenizer and chat
template (``count_prompt_tokens``, equal to the ``encode_prompt`` the local engines run),
never a character estimate.

An external provider is counted with the tokenizer of the local model named by its
``count_tokens_with``; without one it is not counted here and its own context error
comes back to the client (see README, "Routing").
"""

import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from router.config import SwitchboardConfig
from serving.engine import ChatPrompt, GenerationRequest, TextPrompt
from serving.errors import InvalidPrompt
from serving.prompts import count_prompt_tokens
from serving.weights import prepared_dir

_WARM_UP = GenerationRequest("warm-up", ChatPrompt(({"role": "user", "content": "hi"},)))
# A count, or why the model's template refused the prompt.
TokenCount = int | InvalidPrompt


class PromptTokenCounter:
    def __init__(self, tokenizers: Mapping[str, Any]) -> None:
        self._tokenizers = dict(tokenizers)

    @functools.cached_property
    def longest_token(self) -> int:
        """No token of these vocabularies is longer than this many characters, so a
        prompt has at least len(text) / this many tokens on any of them: a bound known
        without counting (whitespace runs make it 128 for Qwen2.5's vocabulary)."""
        distinct = {id(t): t for t in self._tokenizers.values()}.values()
        return max((_longest_token(t) for t in distinct), default=0)

    @classmethod
    def from_config(cls, config: SwitchboardConfig, models_dir: Path) -> "PromptTokenCounter":
        by_model = {
            m.id: AutoTokenizer.from_pretrained(prepared_dir(m, models_dir))
            for m in config.models
            if m.task == "generate"
        }
        for provider in config.external_providers:
            if provider.count_tokens_with is not None:
                by_model[provider.id] = by_model[provider.count_tokens_with]
        counter = cls(by_model)
        # The first encode of a tokenizer mutates its settings: not under concurrency.
        counter.count(list(by_model), _WARM_UP)
        _ = counter.longest_token  # read each vocabulary now, not in a request
        return counter

    def floor(self, request: GenerationRequest, target_ids: Iterable[str] = ()) -> int:
        """A lower bound of the prompt's token count on every tokenizer here, from its
        length alone: microseconds, where an exact count of a 4 MiB prompt takes seconds.
        0 when any of ``target_ids`` has no tokenizer here (nothing is known of its
        vocabulary), or when there are no tokenizers at all."""
        if not self.longest_token or any(t not in self._tokenizers for t in target_ids):
            return 0
        return prompt_chars(request) // self.longest_token

    def lazily(self, target_ids: list[str], request: GenerationRequest) -> "LazyTokenCounts":
        """Counts computed on first use: a target refused for another reason first (its
        key's policy, a rule, tools) costs no count."""
        return LazyTokenCounts(self, frozenset(target_ids), request)

    def count(self, target_ids: list[str], request: GenerationRequest) -> dict[str, TokenCount]:
        """Counts for the targets that have a tokenizer; one count per distinct tokenizer."""
        by_tokenizer: dict[int, TokenCount] = {}
        return {
            target_id: self._count(target_id, request, by_tokenizer)
            for target_id in target_ids
            if target_id in self._tokenizers
        }

    def _count(
        self, target_id: str, request: GenerationRequest, by_tokenizer: dict[int, TokenCount]
    ) -> TokenCount:
        tokenizer = self._tokenizers[target_id]
        key = id(tokenizer)
        if key not in by_tokenizer:
            tools = list(request.tool_use.tools) if request.tool_use else None
            try:
                by_tokenizer[key] = count_prompt_tokens(tokenizer, request.prompt, tools)
            except InvalidPrompt as exc:
                by_tokenizer[key] = exc
        return by_tokenizer[key]


class LazyTokenCounts(Mapping[str, TokenCount]):
    """``PromptTokenCounter.count`` for one request, target by target as they are read
    (one count per distinct tokenizer, as there)."""

    def __init__(
        self, counter: PromptTokenCounter, target_ids: frozenset[str], request: GenerationRequest
    ) -> None:
        self._counter, self._request = counter, request
        self._countable = frozenset(t for t in target_ids if t in counter._tokenizers)
        self._by_tokenizer: dict[int, TokenCount] = {}

    def __getitem__(self, target_id: str) -> TokenCount:
        if target_id not in self._countable:
            raise KeyError(target_id)
        return self._counter._count(target_id, self._request, self._by_tokenizer)

    def __iter__(self) -> Iterator[str]:
        return iter(self._countable)

    def __len__(self) -> int:
        return len(self._countable)


def prompt_chars(request: GenerationRequest) -> int:
    """Characters of the prompt's text (message contents, or the completion prompt)."""
    if isinstance(request.prompt, TextPrompt):
        return len(request.prompt.text)
    total = 0
    for message in request.prompt.messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return total


def _longest_token(tokenizer: Any) -> int:
    tokens = tokenizer.get_vocab()
    return max(1, max((len(tokenizer.convert_tokens_to_string([t])) for t in tokens), default=1))
