"""Multiple choice: the option the answer picks, by letter or by the option's text.

The picked letter is the first standalone option letter (``B``, ``(B)``, ``B)``, ``B.``)
at the start of the answer or after "answer is"; without one, the answer picks an option
when it contains that option's text and no other option's. Listing every option picks
nothing, so guessing all of them earns nothing.
"""

import re

from router.training.grading.match import normalise

_LETTERS = "ABCDEFGH"


def is_choice_correct(answer: str, choices: tuple[str, ...], correct: int) -> bool:
    return picked_option(answer, choices) == correct


def picked_option(answer: str, choices: tuple[str, ...]) -> int | None:
    letters = _LETTERS[: len(choices)]
    letter = re.compile(rf"^\W*\(?([{letters}])\b(?:\)|\.|:|\s|$)")
    stated = re.compile(rf"(?i:answer is)\W*\(?([{letters}])\b")  # the letter as written
    for pattern in (letter, stated):
        found = pattern.search(answer.strip())
        if found:
            return letters.index(found.group(1))
    said = f" {normalise(answer)} "
    named = [i for i, option in enumerate(choices) if _contains(said, option)]
    return named[0] if len(named) == 1 else None


def _contains(said: str, option: str) -> bool:
    wanted = normalise(option)
    return bool(wanted) and f" {wanted} " in said
