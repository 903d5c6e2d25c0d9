"""Which labelled prompts a training run keeps."""

import dataclasses

from router.training.labels import ModelAnswer
from router.training.training_run import usable
from tests.unit.router.synthetic_labels import LARGE, SMALL, TWO_MODELS, synthetic_records


def test_usable_keeps_unique_prompts_that_every_model_answered() -> None:
    first, second, third = synthetic_records(("alpha",), per_task=1)[:3]
    repeat = dataclasses.replace(
        first, answers={SMALL: ModelAnswer(False), LARGE: ModelAnswer(False)}
    )
    small_only = dataclasses.replace(second, answers={SMALL: ModelAnswer(True)})
    assert usable([first, small_only, repeat, third], TWO_MODELS) == [first, third]


def test_a_text_first_seen_without_every_answer_is_kept_from_its_complete_copy() -> None:
    first, second = synthetic_records(("alpha",), per_task=1)[:2]
    incomplete = dataclasses.replace(first, answers={SMALL: ModelAnswer(True)})
    assert usable([incomplete, first, second], TWO_MODELS) == [first, second]


def test_the_first_of_a_repeated_text_is_kept_even_from_another_task() -> None:
    first, second = synthetic_records(("alpha",), per_task=1)[:2]
    same_text = dataclasses.replace(
        second, prompt=dataclasses.replace(second.prompt, messages=first.messages)
    )
    assert usable([same_text, first, second], TWO_MODELS) == [same_text, second]
