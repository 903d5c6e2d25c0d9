"""State of continuous batching: one KV cache shared by every running sequence, and the
per-sequence sampling and text state.

All sequences of the batch live in the rows of a single ``DynamicCache`` whose columns are
aligned on the right: shorter histories are left-padded and masked out. New sequences are
prefilled in their own left-padded cache and concatenated onto the batch (padding
whichever side is shorter on the left); finished ones are dropped by row. Rotary position
ids come from the attention mask, never from column numbers, so padding columns never
shift a sequence's positions.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from serving.constraints import TokenConstraint
from serving.engine import FinishReason, SamplingOptions
from serving.limits import GREEDY_BELOW_TEMPERATURE
from serving.tool_output import PlainText, ToolOutput

# The token id written into padding slots. Those slots are masked out, so any valid id works.
_PAD_ID = 0


class DecodeBatch:
    """The tensors of all sequences decoded together, one row per sequence."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._cache: DynamicCache | None = None
        self._mask: torch.Tensor | None = None  # [rows, columns]: 1 where a real token is cached

    @property
    def size(self) -> int:
        return 0 if self._mask is None else int(self._mask.shape[0])

    def prefill(self, prompts: Sequence[Sequence[int]], copies: Sequence[int]) -> torch.Tensor:
        """Append ``copies[i]`` rows for ``prompts[i]``; return their next-token logits.

        Each prompt is run once and its cache rows replicated, so ``n`` choices of one
        prompt cost one prefill instead of ``n``.
        """
        width = max(len(prompt) for prompt in prompts)
        device = self._model.device
        ids = torch.tensor([[_PAD_ID] * (width - len(p)) + list(p) for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        # No config: every layer becomes a plain full-attention DynamicLayer, whose tensors
        # can be padded and concatenated (sliding-window layers drop columns).
        cache = DynamicCache()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self._forward(ids, mask, positions, cache)
        if any(count != 1 for count in copies):
            rows = torch.repeat_interleave(
                torch.arange(len(prompts), device=device), torch.tensor(copies, device=device)
            )
            cache.batch_select_indices(rows)
            mask, logits = mask[rows], logits[rows]
        self._append(cache, mask)
        return logits

    def step(self, tokens: Sequence[int]) -> torch.Tensor:
        """Feed one token per row (in row order); return the next-token logits per row."""
        assert self._mask is not None and self._cache is not None, "step on an empty batch"
        positions = self._mask.sum(-1, keepdim=True)
        self._mask = functional.pad(self._mask, (0, 1), value=1)
        ids = torch.tensor(tokens, device=self._mask.device).unsqueeze(-1)
        return self._forward(ids, self._mask, positions, self._cache)

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only ``rows`` (ascending), then cut columns that are padding in every row."""
        if self._mask is None or self._cache is None or len(rows) == self.size:
            return
        if not rows:
            self._cache = self._mask = None
            return
        index = torch.tensor(rows, device=self._mask.device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        first = int(self._mask.any(dim=0).nonzero()[0])
        if first:
            self._mask = self._mask[:, first:]
            for layer, keys, values in _kv(self._cache):
                layer.keys, layer.values = keys[:, :, first:], values[:, :, first:]

    def _append(self, cache: DynamicCache, mask: torch.Tensor) -> None:
        if self._cache is None or self._mask is None:
            self._cache, self._mask = cache, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        self._mask = torch.cat([_pad_left(self._mask, width), _pad_left(mask, width)])
        for (layer, keys, values), (_, new_keys, new_values) in zip(
            _kv(self._cache), _kv(cache), strict=True
        ):
            layer.keys = torch.cat([_pad_left(keys, width), _pad_left(new_keys, width)])
            layer.values = torch.cat([_pad_left(values, width), _pad_left(new_values, width)])

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: DynamicCache
    ) -> torch.Tensor:
        output = self._model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,  # only the last position is sampled: skip the vocab projection
        )
        logits: torch.Tensor = output.logits[:, -1, :]
        return logits


def _kv(cache: DynamicCache) -> list[tuple[DynamicLayer, torch.Tensor, torch.Tensor]]:
    """Each layer with its keys and values, [rows, heads, columns, head_dim]."""
    layers = []
    for layer in cache.layers:
        if type(layer) is not DynamicLayer or layer.keys is None or layer.values is None:
            raise TypeError(f"continuous batching needs filled DynamicLayers, got {layer!r}")
        layers.append((layer, layer.keys, layer.values))
    return layers


def _pad_left(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad the column axis on the left: the last axis of a [rows, columns] mask,
    axis -2 of [rows, heads, columns, head_dim] keys and values."""
    is_mask = tensor.dim() == 2
    missing = width - tensor.shape[-1 if is_mask else -2]
    if missing == 0:
        return tensor
    return functional.pad(tensor, (missing, 0) if is_mask else (0, 0, missing, 0))


def sample_token(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> int:
    """Greedy at (near) temperature 0, else nucleus sampling driven only by ``generator``."""
    if temperature < GREEDY_BELOW_TEMPERATURE:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p >= 1.0:
        return int(torch.multinomial(probs, 1, generator=generator))
    sorted_probs, order = probs.sort(descending=True)
    # Drop a token once the mass before it already reaches top_p. The top token always
    # stays, explicitly: a subnormal top_p rounds to 0 in float32 and would drop it too.
    drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
    drop[0] = False
    sorted_probs[drop] = 0
    return int(order[torch.multinomial(sorted_probs, 1, generator=generator)])


class StopTextStream:
    """Incremental detokenizer that never releases text at or past a stop string.

    Decodes a short window of ids (TGI-style prefix/read offsets) and diffs it, so the cost
    per token stays constant; holds back an incomplete UTF-8 character and any trailing text
    that may still become a stop string.
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        self._stop = tuple(text for text in stop if text)
        self._ids: list[int] = []
        self._prefix = 0  # start of the window decoded for context
        self._read = 0  # end of the ids whose text is already released or held
        self._held = ""

    def push(self, token: int) -> tuple[str, bool]:
        """Add a token; return the text now safe to release and whether a stop string hit."""
        self._ids.append(token)
        seen, text = self._decode_window()
        if len(text) <= len(seen) or text.endswith("\ufffd"):
            return "", False  # nothing printable yet, or a multi-byte character is incomplete
        self._prefix, self._read = self._read, len(self._ids)
        pending = self._held + text[len(seen) :]
        cut = self._find_stop(pending)
        if cut is not None:
            self._held = ""
            return pending[:cut], True
        keep = self._partial_stop_length(pending)
        self._held = pending[len(pending) - keep :]
        return pending[: len(pending) - keep], False

    def flush(self) -> str:
        """The generation ended: release what was held (short of any stop string)."""
        seen, text = self._decode_window()
        pending = self._held + text[len(seen) :]
        self._held = ""
        cut = self._find_stop(pending)
        return pending if cut is None else pending[:cut]

    def _decode_window(self) -> tuple[str, str]:
        decode = self._tokenizer.decode
        seen: str = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        text: str = decode(self._ids[self._prefix :], skip_special_tokens=True)
        return seen, text

    def _find_stop(self, text: str) -> int | None:
        found = [index for index in (text.find(stop) for stop in self._stop) if index >= 0]
        return min(found) if found else None

    def _partial_stop_length(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that begins some stop string."""
        longest = max((len(stop) for stop in self._stop), default=1)
        for length in range(min(len(text), longest - 1), 0, -1):
            if any(stop.startswith(text[-length:]) for stop in self._stop):
                return length
        return 0


@dataclass(eq=False)
class SequenceState:
    """One choice being generated."""

    index: int
    sampling: SamplingOptions
    max_tokens: int
    eos_ids: frozenset[int]
    text: StopTextStream
    generator: torch.Generator
    constraint: TokenConstraint | None = None  # JSON output, tool calls: the grammar's tokens only
    output: ToolOutput = field(default_factory=PlainText)  # the text -> content and tool calls
    last_token: int = -1
    sampled: int = 0
    finish_reason: FinishReason | None = None

    @classmethod
    def start(
        cls,
        index: int,
        sampling: SamplingOptions,
        max_tokens: int,
        constraint: TokenConstraint | None = None,
        *,
        eos_ids: frozenset[int],
        tokenizer: Any,
        device: torch.device,
    ) -> "SequenceState":
        generator = torch.Generator(device=device)
        if sampling.seed is None:
            generator.seed()  # fresh entropy: unseeded requests must not repeat each other
        else:
            # Per choice, so a seeded choice samples the same whatever shares its batch.
            generator.manual_seed((sampling.seed + index) % 2**64)
        text = StopTextStream(tokenizer, sampling.stop)
        return cls(index, sampling, max_tokens, eos_ids, text, generator, constraint)

    def advance(self, logits: torch.Tensor) -> str:
        """Sample the next token; return the text it releases and set ``finish_reason``."""
        if self.constraint is not None:
            self.constraint.mask(logits)
        token = sample_token(logits, self.sampling.temperature, self.sampling.top_p, self.generator)
        self.sampled += 1
        self.last_token = token
        if self.constraint is not None:
            self.constraint.accept(token)
        if token in self.eos_ids:
            self.finish_reason = "stop"
            return self.text.flush()
        released, stopped = self.text.push(token)
        if stopped:
            self.finish_reason = "stop"
        elif self.constraint is not None and self.constraint.finished:
            self.finish_reason = "stop"  # the grammar is complete: only EOS could follow
            released += self.text.flush()
        elif self.sampled >= self.max_tokens:
            self.finish_reason = "length"
            released += self.text.flush()
        return released


def eos_token_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """End-of-sequence ids: the generation config's (an int or a list) and the tokenizer's."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = {configured} if isinstance(configured, int) else set(configured or ())
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return frozenset(ids)
