"""Batch KV bookkeeping, sampling and stop-string streaming with the real SmolLM2 files."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.batch_state import DecodeBatch, SequenceState, StopTextStream, sample_token
from serving.engine import SamplingOptions

EOS = 2


@pytest.fixture(scope="module")
def tokenizer(smol_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(smol_model_dir)


@pytest.fixture(scope="module")
def model(smol_model_dir: Path) -> Any:
    torch.set_num_threads(2)
    loaded: Any = AutoModelForCausalLM.from_pretrained(smol_model_dir, dtype=torch.float32)
    return loaded.eval()


def stream(tokenizer: Any, text: str, stop: Sequence[str]) -> tuple[list[str], bool, str]:
    """Push ``text`` token by token: (released pieces, stopped, flushed tail)."""
    texts = StopTextStream(tokenizer, stop)
    pieces = []
    for token in tokenizer(text)["input_ids"]:
        piece, stopped = texts.push(token)
        pieces.append(piece)
        if stopped:
            return pieces, True, ""
    return pieces, False, texts.flush()


def test_streamed_text_equals_the_full_decode(tokenizer: Any) -> None:
    text = "Héllo, wörld! 😀 日本語 and 🦜🦜 done."
    pieces, stopped, tail = stream(tokenizer, text, ())
    assert not stopped
    assert "".join(pieces) + tail == text
    assert not any("\ufffd" in piece for piece in pieces)  # split characters are held back


def test_stop_string_spanning_tokens_is_cut(tokenizer: Any) -> None:
    pieces, stopped, _ = stream(tokenizer, "The answer is 42.\nUser: more", ("\nUser:",))
    assert stopped
    assert "".join(pieces) == "The answer is 42."


def test_earliest_stop_string_wins(tokenizer: Any) -> None:
    pieces, stopped, _ = stream(tokenizer, "one two three four", ("four", "two"))
    assert stopped
    assert "".join(pieces) == "one "


def test_partial_stop_is_held_then_released(tokenizer: Any) -> None:
    pieces, stopped, tail = stream(tokenizer, "wait for it: STO", ("STOP",))
    assert not stopped
    assert "".join(pieces) == "wait for it: "
    assert tail == "STO"
    pieces, stopped, tail = stream(tokenizer, "a STOMP here", ("STOP",))
    assert not stopped
    assert "".join(pieces) + tail == "a STOMP here"


def test_sampling() -> None:
    logits = torch.tensor([1.0, 3.0, 2.0, 0.5])
    generator = torch.Generator().manual_seed(0)
    assert sample_token(logits, 0.0, 1.0, generator) == 1
    assert {sample_token(logits, 1.0, 0.01, generator) for _ in range(50)} == {1}
    # probs ~ [.09, .64, .24, .03]: a 0.8 nucleus holds tokens 1 and 2 only.
    assert {sample_token(logits, 1.0, 0.8, generator) for _ in range(200)} == {1, 2}
    draws = [
        [sample_token(logits, 1.0, 1.0, torch.Generator().manual_seed(7)) for _ in range(5)]
        for _ in range(2)
    ]
    assert draws[0] == draws[1]


def sequence(tokenizer: Any, max_tokens: int) -> SequenceState:
    sampling = SamplingOptions(temperature=0.0)
    device = torch.device("cpu")
    return SequenceState.start(
        0, sampling, max_tokens, eos_ids=frozenset({EOS}), tokenizer=tokenizer, device=device
    )


def one_hot(token: int) -> torch.Tensor:
    logits = torch.zeros(49152)
    logits[token] = 1.0
    return logits


@pytest.mark.parametrize("temperature", [1e-300, 1e-30, 9e-6])
def test_near_zero_temperature_is_greedy_not_nan(temperature: float) -> None:
    """Found by the API fuzzer: logits / 1e-300 overflowed and killed the scheduler."""
    logits = torch.tensor([1.0, 30.0, -5.0, 29.9])
    generator = torch.Generator().manual_seed(0)
    assert sample_token(logits, temperature, 1.0, generator) == 1
    assert sample_token(logits, temperature, 1e-300, generator) == 1


def test_subnormal_top_p_keeps_the_top_token() -> None:
    """Found by the API fuzzer: top_p=5e-324 is 0 in float32 and dropped every token."""
    logits = torch.tensor([1.0, 3.0, -5.0])
    generator = torch.Generator().manual_seed(0)
    assert sample_token(logits, 1.0, 5e-324, generator) == 1


def test_sequence_finishes_on_eos_and_length(tokenizer: Any) -> None:
    hello = tokenizer("Hello")["input_ids"][0]
    state = sequence(tokenizer, max_tokens=10)
    assert state.advance(one_hot(hello)) == "Hello"
    assert state.advance(one_hot(EOS)) == ""
    assert (state.finish_reason, state.sampled) == ("stop", 2)
    state = sequence(tokenizer, max_tokens=2)
    state.advance(one_hot(hello))
    assert (state.finish_reason, state.sampled) == (None, 1)
    state.advance(one_hot(hello))
    assert (state.finish_reason, state.sampled) == ("length", 2)


def reference_logits(model: Any, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        logits: torch.Tensor = model(input_ids=torch.tensor([ids])).logits[0, -1]
    return logits


@pytest.mark.slow
def test_merge_and_keep_match_unbatched_forward(model: Any, tokenizer: Any) -> None:
    first = tokenizer("Once upon a time, in a land far away, there lived a")["input_ids"]
    second = tokenizer("The capital of France is")["input_ids"]
    batch = DecodeBatch(model)
    with torch.inference_mode():
        batch.prefill([first], [1])
        for token in (11, 12, 13):
            batch.step([token])
            first.append(token)
        logits = batch.prefill([second], [2])  # shorter: left-padded; n=2: two rows
        assert torch.allclose(logits[0], logits[1])
        assert torch.allclose(logits[0], reference_logits(model, second), atol=1e-4)
        stepped = batch.step([14, 15, 16])
        assert torch.allclose(stepped[0], reference_logits(model, [*first, 14]), atol=1e-4)
        assert torch.allclose(stepped[1], reference_logits(model, [*second, 15]), atol=1e-4)
        batch.keep([2])  # the padding columns in front of the second prompt go away
        assert batch._mask is not None and bool(batch._mask.all())
        stepped = batch.step([17])
        assert torch.allclose(stepped[0], reference_logits(model, [*second, 16, 17]), atol=1e-4)
        batch.keep([])
        assert batch.size == 0
