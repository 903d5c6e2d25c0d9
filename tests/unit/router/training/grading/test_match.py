"""Matching against reference answers: the grader of the evals registry's prompts."""

import pytest

from router.training.grading.match import is_correct, normalise


@pytest.mark.parametrize(
    ("answer", "ideals", "expected"),
    [
        ("Paris.", ("paris",), True),
        ("The capital is PARIS, of course", ("Paris",), True),
        ("Parisian food", ("paris",), False),  # whole words only
        ("B) because the rest are wrong", ("B",), True),
        ("A, B, C or D", ("B",), False),  # a short reference must be the first word
        ("4", ("four", "4"), True),
        ("", ("x y",), False),
        ("...", ("x y",), False),  # nothing left once punctuation goes
        ("New  York\ncity", ("new york",), True),
        ("anything", ("",), False),  # an empty reference accepts nothing
        ("\uff30\uff21\uff32\uff29\uff33", ("Paris",), True),  # NFKC: full-width PARIS
    ],
)
def test_is_correct(answer: str, ideals: tuple[str, ...], expected: bool) -> None:
    assert is_correct(answer, ideals) is expected


def test_normalise_drops_case_punctuation_and_spacing() -> None:
    assert normalise("  Hello,\tWORLD!  ") == "hello world"
