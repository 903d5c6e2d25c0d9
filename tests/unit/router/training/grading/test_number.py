"""Numeric answers: the final number of the answer, compared as a value."""

import pytest

from router.training.grading.number import is_number_correct, last_number, parse_number


@pytest.mark.parametrize(
    ("answer", "references", "expected"),
    [
        ("the answer is 42", ("42",), True),
        ("The answer is 42.", ("42",), True),
        ("1,000", ("1000",), True),  # thousands separators do not matter
        ("1000", ("1,000",), True),
        ("It costs 1000.0 dollars", ("1000",), True),  # values, not spellings
        ("3 apples and 5 pears make 8", ("8",), True),  # the last number wins
        ("3 apples and 5 pears make 8", ("5",), False),
        ("The answer is 12, since 7 + 5 makes it", ("12",), True),  # the marker wins
        ("x = 7 and y = 9", ("9",), True),  # the last marker counts
        ("#### 18", ("18",), True),
        ("-3.5", ("-3.5",), True),
        ("-3.5", ("3.5",), False),
        ("0.1 + 0.2 is 0.30000000000000004", ("0.3",), True),  # within 1e-6
        ("0.31", ("0.3",), False),
        ("I do not know", ("42",), False),  # no number: wrong
        ("", ("0",), False),
        ("42", ("forty-two",), False),  # a reference that is not a number accepts nothing
        ("43", ("42", "43"), True),  # any accepted value
    ],
)
def test_is_number_correct(answer: str, references: tuple[str, ...], expected: bool) -> None:
    assert is_number_correct(answer, references) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so it is 1,000.", "1,000"),  # as written, without the sentence's full stop
        ("the answer is 5, not 6", "5"),
        ("answer: 7 (after 3 steps)", "7"),
        ("no digits here", None),
    ],
)
def test_last_number(text: str, expected: str | None) -> None:
    assert last_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", 42.0), ("1,000", 1000.0), ("$5.", 5.0), (" -0.5 ", -0.5), ("1e3", 1000.0),
     ("42 apples", None), ("abc", None), ("", None)],
)  # fmt: skip
def test_parse_number_takes_only_a_lone_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected
