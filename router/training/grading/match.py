"""Grade a generated answer against reference answers, deterministically.

Lenient in the way the evals' Includes/FuzzyMatch graders are (case, punctuation and
spacing do not matter; the reference may appear inside a longer answer), strict where
that would reward guessing: a reference of one or two characters (a choice letter, a
digit) must be the answer's first word, so listing every option earns nothing.
"""

import re
import unicodedata

_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_SHORT_REFERENCE = 2


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def is_correct(answer: str, ideals: tuple[str, ...]) -> bool:
    said = normalise(answer)
    if not said:
        return False
    for ideal in ideals:
        wanted = normalise(ideal)
        if not wanted:
            continue
        if len(wanted) <= _SHORT_REFERENCE:
            if said.split(" ", 1)[0] == wanted:
                return True
        elif f" {wanted} " in f" {said} ":
            return True
    return False
