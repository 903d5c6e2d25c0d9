"""The deterministic grader behind every training label."""

import pytest

from router.classifier.grading import is_correct


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
        ("New  York\ncity", ("new york",), True),
    ],
)
def test_is_correct(answer: str, ideals: tuple[str, ...], expected: bool) -> None:
    assert is_correct(answer, ideals) is expected
