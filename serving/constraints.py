"""Grammar-constrained decoding for the transformers engine, with llguidance.

Each constrained sequence carries a ``TokenConstraint``: before sampling, every token the
grammar does not allow next gets logit -inf; after sampling, the token moves the grammar
on. The grammar ends by allowing only an end-of-sequence token, so a constrained answer
is always complete and valid (or cut by ``max_tokens``, finish reason ``length``).

llguidance over xgrammar or outlines: it has no dependencies (xgrammar pulls triton, a
large download for a CPU machine), compiles JSON schemas lazily (no start-up cost per
schema), and is the library behind vLLM's ``guidance`` structured-output backend, so both
engines accept the same schemas.
"""

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import llguidance
import llguidance.hf
import numpy as np
import torch

from serving.errors import UnsupportedFeature

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions  # a TypedDict of the stub only

_ANY_OBJECT: Mapping[str, Any] = {"type": "object"}
# One layout (json.dumps's): small models given free whitespace between tokens fill their
# budget with newlines and never close the object.
_LAYOUT: "JsonCompileOptions" = {
    "item_separator": ", ",
    "key_separator": ": ",
    "whitespace_flexible": False,
}


class GrammarTokenizer:
    """The model's tokenizer as llguidance sees it (building it takes about a second for a
    150k vocabulary: once per engine)."""

    def __init__(self, tokenizer: Any, eos_ids: Iterable[int]) -> None:
        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer, eos_token=sorted(eos_ids))

    def constraint(self, schema: Mapping[str, Any] | None, param: str) -> "TokenConstraint":
        """Output that is JSON matching ``schema`` (None: any JSON object); a schema the
        grammar compiler refuses is an ``UnsupportedFeature`` naming ``param``."""
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            json.dumps(schema if schema is not None else _ANY_OBJECT), defaults=_LAYOUT
        )
        matcher = llguidance.LLMatcher(self._tokenizer, grammar)
        if matcher.is_error():
            raise UnsupportedFeature(
                param, f"the JSON schema cannot be enforced: {matcher.get_error()}"
            )
        return TokenConstraint(matcher)


class TokenConstraint:
    def __init__(self, matcher: llguidance.LLMatcher) -> None:
        self._matcher = matcher

    def mask(self, logits: torch.Tensor) -> None:
        """Set the logits of every token the grammar forbids next to -inf (in place); rows
        of the output layer beyond the tokenizer's vocabulary are forbidden too."""
        bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
        unpacked = np.unpackbits(bits, bitorder="little")[: logits.shape[-1]]
        allowed = np.zeros(logits.shape[-1], dtype=bool)
        allowed[: len(unpacked)] = unpacked
        logits[torch.from_numpy(~allowed)] = float("-inf")

    def accept(self, token: int) -> None:
        if not self._matcher.consume_token(token):
            # Only a token the mask allowed is ever sampled: this is a bug, not bad input.
            raise RuntimeError(f"grammar refused token {token}: {self._matcher.get_error()}")

    @property
    def finished(self) -> bool:
        """The grammar is complete: nothing but end-of-sequence may follow."""
        return self._matcher.is_stopped()
