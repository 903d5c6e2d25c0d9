"""Numeric answers (arithmetic, math word problems): the answer's final number.

The final number is the one after the last "answer is" / "=" / "####" marker when there
is one, else the last number in the answer: worked solutions end with their result.
Numbers compare as values (``1,000`` = ``1000.0``), within a relative 1e-6.
"""

import math
import re
from typing import Literal

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")
_MARKER = re.compile(r"(?:answer is|answer:|####|=)", re.IGNORECASE)
_TOLERANCE = 1e-6


def parse_number(text: str) -> float | None:
    """The value of a text that is one number and nothing else, else None."""
    stripped = text.strip().rstrip(".").replace("$", "").strip()
    match = _NUMBER.fullmatch(stripped)
    return _value(match.group()) if match else None


def short_answer_grader(answers: tuple[str, ...]) -> Literal["number", "match"]:
    """References that are all numbers are graded as numbers (a worked answer ends with
    its result); any other short reference by matching."""
    return "number" if all(parse_number(a) is not None for a in answers) else "match"


def last_number(text: str) -> str | None:
    """The final number of a text, as written (see the module docstring)."""
    markers = list(_MARKER.finditer(text))
    tail = text[markers[-1].end() :] if markers else ""
    found = _NUMBER.findall(tail)[:1] or _NUMBER.findall(text)[-1:]
    return found[0].rstrip(".,") if found else None


def is_number_correct(answer: str, references: tuple[str, ...]) -> bool:
    said = last_number(answer)
    value = _value(said) if said is not None else None
    if value is None:
        return False
    wanted = [v for r in references if (v := parse_number(r)) is not None]
    return any(math.isclose(value, w, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE) for w in wanted)


def _value(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None
