"""Gradable prompts from the OpenAI Evals registry (``evals`` 3.0.1.post1 on PyPI, MIT).

The wheel is read in place (it is never installed): each eval YAML names its grader
class and a ``samples.jsonl`` with chat ``input`` and an ``ideal`` answer. Only evals
graded by plain matching (Match, Includes, FuzzyMatch) are used (numeric ideals are
graded as numbers, so a worked answer ending in the result counts), so every label comes
from a deterministic grader; folders that the wheel's LICENSE.md puts under other
licences are left out.
"""

import json
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from router.training.categories import category_of
from router.training.grading.number import short_answer_grader
from router.training.sources import GradablePrompt, Reference

SOURCE = "evals"
EVALS_DISTRIBUTION = "evals==3.0.1.post1"
_REGISTRY = "evals/registry/"
_MATCH_GRADERS = frozenset(
    {
        "evals.elsuite.basic.match:Match",
        "evals.elsuite.basic.includes:Includes",
        "evals.elsuite.basic.fuzzy_match:FuzzyMatch",
    }
)
# Named in the wheel's LICENSE.md as carrying non-MIT (some non-commercial) licences.
_OTHER_LICENCES = frozenset(
    {
        "text_compression",
        "steganography",
        "schelling_point",
        "ballots",
        "sandbagging",
        "theory_of_mind",
        "already_said_that",
    }
)
_MAX_IDEAL_CHARS = 80  # a long ideal is prose that plain matching cannot grade
_MAX_PROMPT_CHARS = 3000


@dataclass(frozen=True)
class _EvalSpec:
    name: str
    description: str
    samples_path: str


def read_evals_registry(wheel: Path, per_task: int, rng: random.Random) -> Iterator[GradablePrompt]:
    """Yield up to ``per_task`` usable samples from every match-graded eval, sampled by
    ``rng`` so that the selection is reproducible from a seed."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for spec in sorted(_match_graded_evals(archive), key=lambda s: s.name):
            path = _REGISTRY + "data/" + spec.samples_path
            if path not in names or spec.samples_path.split("/")[0] in _OTHER_LICENCES:
                continue
            samples = [
                prompt
                for line in archive.read(path).decode("utf-8").splitlines()
                if (prompt := _parse_sample(line, spec)) is not None
            ]
            rng.shuffle(samples)
            yield from samples[:per_task]


def _match_graded_evals(archive: zipfile.ZipFile) -> Iterator[_EvalSpec]:
    for name in archive.namelist():
        if not (name.startswith(_REGISTRY + "evals/") and name.endswith(".yaml")):
            continue
        registry = yaml.safe_load(archive.read(name)) or {}
        for key, entry in registry.items():
            spec = _spec_from(key, entry, registry)
            if spec is not None:
                yield spec


def _spec_from(key: str, entry: Any, registry: dict[str, Any]) -> _EvalSpec | None:
    if not isinstance(entry, dict) or entry.get("class") not in _MATCH_GRADERS:
        return None
    samples = (entry.get("args") or {}).get("samples_jsonl")
    if not isinstance(samples, str):
        return None
    base = key.split(".")[0]
    header = registry.get(base)
    if not isinstance(header, dict):
        header = {}
    return _EvalSpec(
        name=base, description=str(header.get("description", "")), samples_path=samples
    )


def _parse_sample(line: str, spec: _EvalSpec) -> GradablePrompt | None:
    try:
        sample = json.loads(line)
    except json.JSONDecodeError:
        return None
    messages = _messages(sample.get("input"))
    ideals = _ideals(sample.get("ideal"))
    if not messages or not ideals:
        return None
    if sum(len(m["content"]) for m in messages) > _MAX_PROMPT_CHARS:
        return None
    return GradablePrompt(
        source=SOURCE,
        task=spec.name,
        category=category_of(spec.name, spec.description),
        grader=short_answer_grader(ideals),
        messages=messages,
        reference=Reference(answers=ideals),
    )


def _messages(raw: Any) -> tuple[dict[str, str], ...]:
    if isinstance(raw, str):
        return ({"role": "user", "content": raw},)
    if not isinstance(raw, list):
        return ()
    messages = []
    for message in raw:
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            return ()  # multimodal parts or odd roles: not text chat
        messages.append({"role": role, "content": content})
    has_user_turn = any(m["role"] == "user" for m in messages)
    return tuple(messages) if has_user_turn else ()


def _ideals(raw: Any) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    ideals = tuple(str(v).strip() for v in values if isinstance(v, (str, int, float)))
    if not ideals or any(not v or len(v) > _MAX_IDEAL_CHARS for v in ideals):
        return ()
    return ideals
