"""Multiple choice: the option an answer picks, by its letter or by its text."""

import pytest

from router.training.grading.choice import is_choice_correct, picked_option

CHOICES = ("red", "green", "blue")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", 1),
        ("(B)", 1),
        ("B)", 1),
        ("B.", 1),
        ("B: because grass is green", 1),
        ("  (C) blue", 2),
        ("The answer is C", 2),
        ("I think the answer is (A).", 0),
        ("THE ANSWER IS B", 1),  # the phrase in any case
        ("the answer is (c)", None),  # a lowercase letter is a word, not an option letter
        ("the answer is a guess", None),
        ("green", 1),  # the option's text alone
        ("I would say Green.", 1),
        ("red, green or blue", None),  # listing every option picks nothing
        ("red or green", None),  # two options named: no pick
        ("D", None),  # not an option of three
        ("Because of the light", None),  # a word starting with B is not the letter B
        ("greenish", None),  # whole words only
        ("", None),
    ],
)
def test_picked_option(answer: str, expected: int | None) -> None:
    assert picked_option(answer, CHOICES) == expected


def test_the_letter_wins_over_option_text() -> None:
    assert picked_option("(A) not blue", CHOICES) == 0


def test_is_choice_correct() -> None:
    assert is_choice_correct("(B) green", CHOICES, 1)
    assert not is_choice_correct("(C) blue", CHOICES, 1)
    assert not is_choice_correct("red, green or blue", CHOICES, 1)
