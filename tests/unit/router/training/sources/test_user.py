"""A user's own traffic as labels: the prompts file format of `switchboard router label
--prompts`."""

import json
from pathlib import Path

import pytest

from router.training.sources.user import UserPromptError, read_user_prompts

ASK = [{"role": "user", "content": "What is 6 x 7?"}]


def write(tmp_path: Path, *rows: object) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return path


def test_reference_rows_are_answered_and_graded_rows_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "messages": ASK,
            "reference": "42",
            "grader": "number",
            "task": "arith",
            "category": "math",
        },
        {"messages": ASK, "reference": ["42", "forty-two"]},
        {"messages": ASK, "reference": {"choices": ["41", "42"], "correct": 1}, "grader": "choice"},
        {"messages": ASK, "grades": {"small": False, "large": True}, "task": "faq"},
    )
    to_answer, graded = read_user_prompts(path)
    assert [p.grader for p in to_answer] == ["number", "match", "choice"]
    assert to_answer[0].reference.answers == ("42",)
    assert (to_answer[0].task, to_answer[0].category, to_answer[0].source) == (
        "arith",
        "math",
        "user",
    )
    assert to_answer[1].reference.answers == ("42", "forty-two")
    assert to_answer[2].reference.choices == ("41", "42") and to_answer[2].reference.correct == 1
    assert len(graded) == 1 and graded[0].task == "faq"
    assert {m: a.correct for m, a in graded[0].answers.items()} == {"small": False, "large": True}


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"messages": ASK}, "reference"),
        ({"messages": ASK, "reference": "x", "grader": "judge"}, "grader"),
        ({"messages": [{"role": "system", "content": "hi"}], "reference": "x"}, "user turn"),
        ({"reference": "x"}, "messages"),
    ],
)
def test_a_bad_line_is_refused_with_its_number(tmp_path: Path, row: dict, says: str) -> None:  # type: ignore[type-arg]
    path = write(tmp_path, {"messages": ASK, "reference": "42"}, row)
    with pytest.raises(UserPromptError, match=rf"prompts.jsonl:2: .*{says}"):
        read_user_prompts(path)
