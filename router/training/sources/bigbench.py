"""Gradable prompts from BIG-bench (``bigbench`` 1.0.0 sdist on PyPI, Apache-2.0).

The sdist is read in place: every JSON task (``benchmark_tasks/<task>/task.json``, or its
subtasks' files when the task itself has no examples) holds examples with either
``target_scores`` (multiple choice: graded by the chosen letter) or ``target`` (short
generation: numbers graded as numbers, the rest by matching). Programmatic tasks have no
``task.json`` and are skipped. The task's ``keywords`` give its category.
"""

import json
import random
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from router.training.categories import category_of
from router.training.grading.number import short_answer_grader
from router.training.sources import GradablePrompt, Reference

SOURCE = "bigbench"
BIGBENCH_DISTRIBUTION = "bigbench==1.0.0"
_MAX_PROMPT_CHARS = 3000
_MAX_TARGET_CHARS = 80
_MAX_CHOICES = 8
_LETTERS = "ABCDEFGH"
CHOICE_INSTRUCTION = "Answer with the letter of the correct option."


def read_bigbench(sdist: Path, per_task: int, rng: random.Random) -> Iterator[GradablePrompt]:
    """Up to ``per_task`` gradable examples of every JSON task, sampled by ``rng``."""
    tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with tarfile.open(sdist) as archive:
        for member in archive:
            task = _task_name(member.name)
            if task is None or not member.isfile():
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                tasks[task].append(json.load(handle))
    for task in sorted(tasks):
        prompts = [p for spec in tasks[task] for p in _prompts(task, spec)]
        rng.shuffle(prompts)
        yield from prompts[:per_task]


def _task_name(path: str) -> str | None:
    """``.../benchmark_tasks/<task>/task.json`` or ``.../<task>/<subtask>/task.json``."""
    parts = PurePosixPath(path).parts
    if parts[-1] != "task.json" or "benchmark_tasks" not in parts:
        return None
    inside = parts[parts.index("benchmark_tasks") + 1 : -1]
    return inside[0] if 1 <= len(inside) <= 2 else None


def _prompts(task: str, spec: dict[str, Any]) -> Iterator[GradablePrompt]:
    if not isinstance(spec, dict) or not isinstance(spec.get("examples"), list):
        return
    keywords = " ".join(str(k) for k in spec.get("keywords", []))
    category = category_of(task, keywords)
    prefix = str(spec.get("task_prefix", "")).strip()
    for example in spec["examples"]:
        if isinstance(example, dict) and isinstance(example.get("input"), str):
            prompt = _prompt(task, category, prefix, example)
            if prompt is not None:
                yield prompt


def _prompt(
    task: str, category: str, prefix: str, example: dict[str, Any]
) -> GradablePrompt | None:
    question = "\n\n".join(part for part in (prefix, example["input"].strip()) if part)
    scores = example.get("target_scores")
    built = _choice(question, scores) if isinstance(scores, dict) else _short(question, example)
    if built is None:
        return None
    content, grader, reference = built
    if len(content) > _MAX_PROMPT_CHARS:
        return None
    return GradablePrompt(
        source=SOURCE,
        task=task,
        category=category,
        grader=grader,  # type: ignore[arg-type]
        messages=({"role": "user", "content": content},),
        reference=reference,
    )


def _choice(question: str, scores: dict[str, Any]) -> tuple[str, str, Reference] | None:
    options = [str(option).strip() for option in scores]
    values = [float(v) if isinstance(v, (int, float)) else 0.0 for v in scores.values()]
    best = max(values, default=0.0)
    if not 2 <= len(options) <= _MAX_CHOICES or best <= 0 or values.count(best) != 1:
        return None  # no single right option
    lines = [f"({_LETTERS[i]}) {option}" for i, option in enumerate(options)]
    content = f"{question}\n\nOptions:\n" + "\n".join(lines) + f"\n\n{CHOICE_INSTRUCTION}"
    return content, "choice", Reference(choices=tuple(options), correct=values.index(best))


def _short(question: str, example: dict[str, Any]) -> tuple[str, str, Reference] | None:
    raw = example.get("target")
    targets = [str(t).strip() for t in (raw if isinstance(raw, list) else [raw]) if t is not None]
    if not targets or any(not t or len(t) > _MAX_TARGET_CHARS for t in targets):
        return None
    answers = tuple(targets)
    return question, short_answer_grader(answers), Reference(answers=answers)
