"""Graded labels: one record per prompt, with every fleet model's answer and its grade.

RouteLLM's "benchmark-augmented" recipe on the fleet's own models: each gradable prompt is
answered by each model (greedy, with room to finish, through the same ``Engine`` that
serves it) and each answer is graded against the prompt's reference. The file (gzipped
JSON lines) keeps prompts, answers and grades, so the training set can be audited, and a
user's own traffic can be written in the same shape (``switchboard router label
--prompts``).
"""

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from router.training.sources import GradablePrompt, Reference

# What the package ships: the labels the classifier was trained on, and the fleet that
# answered them.
SHIPPED_DATA = Path(__file__).parent / "data"
SHIPPED_LABELS = SHIPPED_DATA / "labels.jsonl.gz"
LABEL_FLEET = SHIPPED_DATA / "label-fleet.vllm-cpu.yaml"


@dataclass(frozen=True)
class ModelAnswer:
    correct: bool
    text: str = ""  # empty when the grade came with the data (a user's own labels)
    completion_tokens: int = 0
    finish_reason: str = ""  # stop, length, or error (the engine refused the prompt)


@dataclass(frozen=True)
class LabelledPrompt:
    prompt: GradablePrompt
    prompt_tokens: int  # counted by the last labelling model's template; 0 when unknown
    answers: Mapping[str, ModelAnswer]  # model id -> its graded answer

    @property
    def source(self) -> str:
        return self.prompt.source

    @property
    def task(self) -> str:
        return self.prompt.task

    @property
    def category(self) -> str:
        return self.prompt.category

    @property
    def messages(self) -> tuple[dict[str, str], ...]:
        return self.prompt.messages

    def correct(self, model_id: str) -> bool:
        return self.answers[model_id].correct


def write_labels(path: Path, records: Iterable[LabelledPrompt]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same labels give the same bytes, so a rerun shows no diff.
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        for record in records:
            raw.write((json.dumps(_row(record), ensure_ascii=False) + "\n").encode())


def read_labels(path: Path) -> list[LabelledPrompt]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [record_from_row(json.loads(line)) for line in lines if line.strip()]


def _row(record: LabelledPrompt) -> dict[str, Any]:
    prompt = record.prompt
    return {
        "id": prompt.id,
        "source": prompt.source,
        "task": prompt.task,
        "category": prompt.category,
        "grader": prompt.grader,
        "messages": list(prompt.messages),
        "reference": asdict(prompt.reference),
        "prompt_tokens": record.prompt_tokens,
        "answers": {model: asdict(answer) for model, answer in record.answers.items()},
    }


def record_from_row(row: Mapping[str, Any]) -> LabelledPrompt:
    reference = row.get("reference") or {}
    prompt = GradablePrompt(
        source=str(row["source"]),
        task=str(row["task"]),
        category=str(row["category"]),
        grader=row.get("grader", "match"),
        messages=tuple({"role": m["role"], "content": m["content"]} for m in row["messages"]),
        reference=Reference.from_dict(reference),
    )
    answers = {model: ModelAnswer(**answer) for model, answer in row["answers"].items()}
    return LabelledPrompt(prompt, int(row.get("prompt_tokens", 0)), answers)
