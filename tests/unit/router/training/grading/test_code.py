"""Code answers: run against the reference tests in a separate Python process."""

import time

import pytest

from router.training.grading import code
from router.training.grading.code import is_code_correct, program

PREFIX = (
    "from typing import List\n\n\n"
    "def total(xs: List[int]) -> int:\n"
    '    """The sum of xs.\n    >>> total([1, 2])\n    3\n    """\n'
)
TESTS = (
    "def check(candidate):\n"
    "    assert candidate([]) == 0\n"
    "    assert candidate([1, 2, 3]) == 6\n\n"
    "check(total)\n"
)


def fenced(body: str, language: str = "python") -> str:
    return f"Here it is:\n```{language}\n{body}```\nIt adds the numbers up."


WHOLE = "def total(xs: List[int]) -> int:\n    return sum(xs)\n"


@pytest.mark.parametrize(
    "answer",
    [
        fenced(WHOLE),  # the whole function, using the prompt's import
        fenced(WHOLE, language="py"),
        fenced(WHOLE, language=""),
        fenced("    return sum(xs)\n"),  # the body only: completes the prompt's signature
        "    return sum(xs)\n",  # an unfenced body
        "```python\nimport math\n```\n" + fenced("def helper():\n    pass\n\n" + WHOLE),
    ],
)
def test_a_right_answer_passes(answer: str) -> None:
    assert is_code_correct(answer, PREFIX, TESTS)


@pytest.mark.parametrize(
    "answer",
    [
        fenced("def total(xs: List[int]) -> int:\n    return len(xs)\n"),  # fails a test
        fenced("    return max(xs)\n"),  # raises on []
        fenced("def total(xs:\n"),  # a syntax error
        fenced("def other(xs):\n    return sum(xs)\n"),  # not the function asked for
        "I cannot help with that.",
        "",
    ],
)
def test_a_wrong_answer_fails(answer: str) -> None:
    assert not is_code_correct(answer, PREFIX, TESTS)


def test_the_body_is_appended_to_the_prompt_and_a_function_stands_alone() -> None:
    assert program("    return sum(xs)\n", PREFIX) == PREFIX + "    return sum(xs)\n"
    assert program(fenced(WHOLE), PREFIX) == "from typing import List\n" + WHOLE


def test_an_infinite_loop_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code, "_TIMEOUT_S", 1.0)
    started = time.monotonic()
    assert not is_code_correct(fenced("    while True:\n        pass\n"), PREFIX, TESTS)
    assert time.monotonic() - started < 8  # the timeout ended it, not the tests


def test_the_answer_runs_in_an_empty_working_directory() -> None:
    tests = "import os\nassert os.listdir('.') == []\ncheck(total)\n"
    check = "def check(candidate):\n    assert candidate([2]) == 2\n"
    assert is_code_correct(fenced(WHOLE), PREFIX, check + tests)
