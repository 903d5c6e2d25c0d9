import pytest

from serving.errors import ContextLengthExceeded, MaxTokensTooLarge
from serving.limits import completion_budget


def test_default_is_what_fits_capped_by_the_model() -> None:
    assert completion_budget(100, None, context_window=1000, max_output_tokens=None) == 900
    assert completion_budget(100, None, context_window=1000, max_output_tokens=64) == 64
    assert completion_budget(990, None, context_window=1000, max_output_tokens=64) == 10


def test_requested_max_tokens_is_kept() -> None:
    assert completion_budget(100, 50, context_window=1000, max_output_tokens=64) == 50


def test_prompt_plus_completion_over_the_window() -> None:
    with pytest.raises(ContextLengthExceeded) as info:
        completion_budget(990, 20, context_window=1000, max_output_tokens=None)
    assert (info.value.prompt_tokens, info.value.max_tokens) == (990, 20)


def test_prompt_alone_fills_the_window() -> None:
    with pytest.raises(ContextLengthExceeded):
        completion_budget(1000, None, context_window=1000, max_output_tokens=None)


def test_over_the_model_cap() -> None:
    with pytest.raises(MaxTokensTooLarge, match="65"):
        completion_budget(10, 65, context_window=1000, max_output_tokens=64)
