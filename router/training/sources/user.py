"""A user's own traffic as labels: JSON lines, one chat request per line.

Either with a reference, to be answered by the fleet and graded::

    {"messages": [{"role": "user", "content": "What is 6 x 7?"}], "reference": "42",
     "grader": "number", "task": "arithmetic", "category": "math"}

(``reference``: a string, a list of accepted answers, or an object with the fields of
``Reference``; ``grader``: match (default), number, choice or code), or with grades
already attached, which are used as they are::

    {"messages": [...], "grades": {"smollm2-135m": false, "qwen2.5-coder-0.5b": true}}

``source`` (default ``user``), ``task`` (default ``user``: give one per kind of request
so that cross-validation holds whole tasks out) and ``category`` are optional.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from router.training.labels import LabelledPrompt, ModelAnswer
from router.training.sources import GRADERS, GradablePrompt, Reference

USER_SOURCE = "user"


class UserPromptError(ValueError):
    """A line of the prompts file that cannot be used; the message names the line."""


def read_user_prompts(path: Path) -> tuple[list[GradablePrompt], list[LabelledPrompt]]:
    """(prompts to answer and grade, prompts that came with their grades)."""
    to_answer: list[GradablePrompt] = []
    graded: list[LabelledPrompt] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt = _prompt(row)
        except (ValueError, TypeError, KeyError) as exc:
            raise UserPromptError(f"{path}:{number}: {exc}") from exc
        if "grades" in row:
            answers = {str(m): ModelAnswer(correct=bool(g)) for m, g in row["grades"].items()}
            graded.append(LabelledPrompt(prompt, 0, answers))
        else:
            to_answer.append(prompt)
    return to_answer, graded


def _prompt(row: Mapping[str, Any]) -> GradablePrompt:
    messages = tuple(
        {"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"]
    )
    if not any(m["role"] == "user" for m in messages):
        raise ValueError("messages need a user turn")
    grader = row.get("grader", "match")
    if grader not in GRADERS:
        raise ValueError(f"grader must be one of {', '.join(GRADERS)}, got {grader!r}")
    if "grades" not in row and "reference" not in row:
        raise ValueError("each line needs a `reference` or `grades`")
    return GradablePrompt(
        source=str(row.get("source", USER_SOURCE)),
        task=str(row.get("task", USER_SOURCE)),
        category=str(row.get("category", USER_SOURCE)),
        grader=grader,
        messages=messages,
        reference=_reference(row.get("reference")),
    )


def _reference(raw: Any) -> Reference:
    if raw is None:
        return Reference()
    if isinstance(raw, str):
        return Reference(answers=(raw,))
    if isinstance(raw, list):
        return Reference(answers=tuple(str(a) for a in raw))
    return Reference.from_dict(raw)
