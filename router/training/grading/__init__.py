"""Deterministic graders: one per kind of reference (``sources.Grader``)."""

from router.training.grading.choice import is_choice_correct
from router.training.grading.code import is_code_correct
from router.training.grading.match import is_correct
from router.training.grading.number import is_number_correct
from router.training.sources import GradablePrompt


def grade(prompt: GradablePrompt, answer: str) -> bool:
    reference = prompt.reference
    if prompt.grader == "choice":
        return is_choice_correct(answer, reference.choices, reference.correct)
    if prompt.grader == "number":
        return is_number_correct(answer, reference.answers)
    if prompt.grader == "code":
        return is_code_correct(answer, reference.code_prefix, reference.tests)
    return is_correct(answer, reference.answers)
