"""The label file: one gzipped JSON line per prompt, with every model's graded answer."""

import gzip
import json
from pathlib import Path

from router.training.labels import LabelledPrompt, ModelAnswer, read_labels, write_labels
from router.training.sources import GradablePrompt, Reference

CHOICE = GradablePrompt(
    source="bigbench",
    task="sky_colours",
    category="knowledge",
    grader="choice",
    messages=({"role": "user", "content": "Sky colour?\n\nOptions:\n(A) red\n(B) blue"},),
    reference=Reference(choices=("red", "blue"), correct=1),
)
CODE = GradablePrompt(
    source="humaneval",
    task="HumanEval/0",
    category="code",
    grader="code",
    messages=({"role": "user", "content": "Complete add. ünïcödé"},),
    reference=Reference(code_prefix="def add(x, y):\n", tests="assert add(1, 2) == 3\n"),
)
MATCH = GradablePrompt(
    source="evals",
    task="capitals",
    category="knowledge",
    grader="match",
    messages=(
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of Peru?"},
    ),
    reference=Reference(answers=("Lima", "lima")),
)
NUMBER = GradablePrompt(
    source="mtbench",
    task="mtbench-math",
    category="math",
    grader="number",
    messages=({"role": "user", "content": "2+2?"},),
    reference=Reference(answers=("4",)),
)
RECORDS = [
    LabelledPrompt(
        CHOICE,
        31,
        {
            "small": ModelAnswer(False, "(A) red", 4, "stop"),
            "medium": ModelAnswer(True, "(B)", 2, "stop"),
            "large": ModelAnswer(True, "B) blue", 3, "length"),
        },
    ),
    LabelledPrompt(
        CODE,
        50,
        {"small": ModelAnswer(False, "", 0, "error"), "large": ModelAnswer(True, "  return x + y")},
    ),
    LabelledPrompt(MATCH, 0, {"user": ModelAnswer(True)}),  # a user's own label
    LabelledPrompt(NUMBER, 9, {"small": ModelAnswer(True, "4", 1, "stop")}),
]


def test_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "labels.jsonl.gz"
    write_labels(path, RECORDS)
    back = read_labels(path)
    assert back == RECORDS
    assert back[0].prompt.reference == Reference(choices=("red", "blue"), correct=1)
    assert back[1].prompt.reference.tests == "assert add(1, 2) == 3\n"
    assert back[2].prompt.reference.answers == ("Lima", "lima")
    assert [r.prompt.grader for r in back] == ["choice", "code", "match", "number"]
    assert list(back[0].answers) == ["small", "medium", "large"]  # the models' order kept
    assert back[0].correct("medium") and not back[0].correct("small")
    assert back[0].prompt.id == CHOICE.id


def test_the_same_labels_give_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl.gz"
    write_labels(path, RECORDS)
    first = path.read_bytes()
    write_labels(path, RECORDS)
    assert path.read_bytes() == first


def test_rows_are_plain_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl.gz"
    write_labels(path, RECORDS[:2])
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows] == [CHOICE.id, CODE.id]
    assert rows[0]["reference"]["choices"] == ["red", "blue"]
    assert rows[0]["answers"]["medium"] == {
        "correct": True, "text": "(B)", "completion_tokens": 2, "finish_reason": "stop",
    }  # fmt: skip
    assert rows[1]["messages"][0]["content"].endswith("ünïcödé")


def test_a_row_without_grader_or_reference_reads_as_a_match_prompt(tmp_path: Path) -> None:
    row = {
        "source": "user",
        "task": "mine",
        "category": "knowledge",
        "messages": [{"role": "user", "content": "hi"}],
        "answers": {"m": {"correct": False}},
    }
    path = tmp_path / "labels.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n\n")
    (record,) = read_labels(path)
    assert record.prompt.grader == "match"
    assert record.prompt.reference == Reference()
    assert record.prompt_tokens == 0
    assert record.answers == {"m": ModelAnswer(False)}
    assert (record.source, record.task) == ("user", "mine")
    assert record.messages == ({"role": "user", "content": "hi"},)
