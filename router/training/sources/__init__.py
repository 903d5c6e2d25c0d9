"""Gradable prompts from packages that ship them (model hubs are out of reach).

Every reader yields ``GradablePrompt``: chat messages, the package it came from (the unit
of the leave-one-source-out evaluation), the task inside it (the unit of grouped
cross-validation), a task category, and a ``Reference`` that one of the deterministic
graders in ``router.training.grading`` checks an answer against.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Grader = Literal["match", "choice", "number", "code"]
GRADERS: tuple[Grader, ...] = ("match", "choice", "number", "code")


@dataclass(frozen=True)
class Reference:
    """What a correct answer looks like; which fields count depends on the grader."""

    answers: tuple[str, ...] = ()  # match: accepted answers; number: accepted values
    choices: tuple[str, ...] = ()  # choice: every option, in the order shown (A, B, ...)
    correct: int = -1  # choice: index of the right option
    code_prefix: str = ""  # code: the signature and docstring the answer completes
    tests: str = ""  # code: a test program; the answer passes when it exits 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Reference":
        """From JSON (a label file's row, a user's prompts file): lists become tuples."""
        return cls(
            answers=tuple(str(a) for a in raw.get("answers", ())),
            choices=tuple(str(c) for c in raw.get("choices", ())),
            correct=int(raw.get("correct", -1)),
            code_prefix=str(raw.get("code_prefix", "")),
            tests=str(raw.get("tests", "")),
        )


@dataclass(frozen=True)
class GradablePrompt:
    source: str  # the package: the unit held out by leave-one-source-out
    task: str  # the task inside it: the unit of grouped cross-validation
    category: str
    grader: Grader
    messages: tuple[dict[str, str], ...]
    reference: Reference = field(default_factory=Reference)

    @property
    def id(self) -> str:
        """Stable across runs: a checkpoint keys answers by it."""
        body = json.dumps([self.source, self.task, self.messages], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def answer_budget(self) -> int:
        """Room to finish: code and multi-step math need far more than a short answer."""
        return LONG_ANSWER_TOKENS if self.category in LONG_ANSWER_CATEGORIES else ANSWER_TOKENS


ANSWER_TOKENS = 256
LONG_ANSWER_TOKENS = 512
LONG_ANSWER_CATEGORIES = frozenset({"code", "math"})
