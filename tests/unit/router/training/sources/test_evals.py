"""Reading the evals registry: a wheel-shaped zip with the registry's real layout."""

import json
import random
import zipfile
from pathlib import Path

from router.training.sources.evals import read_evals_registry

SIMPLE_MATH_YAML = (
    "simple_math:\n  id: simple_math.dev.v0\n  description: arithmetic\n"
    "simple_math.dev.v0:\n  class: evals.elsuite.basic.match:Match\n"
    "  args:\n    samples_jsonl: simple_math/samples.jsonl\n"
)


def registry_wheel(tmp_path: Path, extra_samples: int = 0) -> Path:
    wheel = tmp_path / "evals-3.0.1.post1-py3-none-any.whl"
    samples = [
        {"input": [{"role": "system", "content": "Add."}, {"role": "user", "content": "2+2"}],
         "ideal": "4"},
        {"input": "Capital of France?", "ideal": ["Paris", "paris"]},
        {"input": [{"role": "user", "content": [{"type": "image_url"}]}], "ideal": "x"},
        {"input": "too long an ideal", "ideal": "y" * 500},
        {"input": [{"role": "assistant", "content": "no user turn"}], "ideal": "z"},
        {"input": "x" * 4000, "ideal": "long prompt"},
        {"input": "no ideal"},
    ] + [{"input": f"{i}+1", "ideal": str(i + 1)} for i in range(extra_samples)]  # fmt: skip
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("evals/registry/evals/simple_math.yaml", SIMPLE_MATH_YAML)
        archive.writestr(
            "evals/registry/data/simple_math/samples.jsonl",
            "\n".join(json.dumps(s) for s in samples) + "\nnot json\n",
        )
        archive.writestr(  # model-graded: not used
            "evals/registry/evals/essay.yaml",
            "essay.dev.v0:\n  class: evals.elsuite.modelgraded.classify:ModelBasedClassify\n"
            "  args:\n    samples_jsonl: essay/samples.jsonl\n",
        )
        archive.writestr("evals/registry/data/essay/samples.jsonl", json.dumps(samples[0]))
        archive.writestr(  # match-graded, but its folder is under another licence
            "evals/registry/evals/ballots.yaml",
            "ballots.dev.v0:\n  class: evals.elsuite.basic.includes:Includes\n"
            "  args:\n    samples_jsonl: ballots/samples.jsonl\n",
        )
        archive.writestr("evals/registry/data/ballots/samples.jsonl", json.dumps(samples[1]))
        archive.writestr(  # names a samples file the wheel does not ship
            "evals/registry/evals/missing.yaml",
            "missing.dev.v0:\n  class: evals.elsuite.basic.match:Match\n"
            "  args:\n    samples_jsonl: missing/samples.jsonl\n",
        )
    return wheel


def test_reads_usable_match_graded_samples(tmp_path: Path) -> None:
    prompts = list(read_evals_registry(registry_wheel(tmp_path), 10, random.Random(0)))
    assert sorted(p.reference.answers for p in prompts) == [("4",), ("Paris", "paris")]
    assert {p.source for p in prompts} == {"evals"}
    # A numeric ideal is graded by value (a worked answer ends with it); text by matching.
    assert {p.reference.answers: p.grader for p in prompts} == {
        ("4",): "number",
        ("Paris", "paris"): "match",
    }
    assert {p.task for p in prompts} == {"simple_math"}
    assert {p.category for p in prompts} == {"math"}
    by_answers = {p.reference.answers: p for p in prompts}
    assert by_answers[("Paris", "paris")].messages == (
        {"role": "user", "content": "Capital of France?"},
    )
    assert by_answers[("4",)].messages == (
        {"role": "system", "content": "Add."},
        {"role": "user", "content": "2+2"},
    )
    assert by_answers[("4",)].reference.choices == ()  # a match reference has answers only


def test_per_task_limit_and_seed_are_reproducible(tmp_path: Path) -> None:
    wheel = registry_wheel(tmp_path, extra_samples=20)
    first = list(read_evals_registry(wheel, 3, random.Random(7)))
    assert len(first) == 3
    assert first == list(read_evals_registry(wheel, 3, random.Random(7)))
    picks = {tuple(p.id for p in read_evals_registry(wheel, 3, random.Random(s))) for s in range(5)}
    assert len(picks) > 1  # the seed chooses which samples


def test_ids_are_stable_and_distinct(tmp_path: Path) -> None:
    wheel = registry_wheel(tmp_path)
    ids = [p.id for p in read_evals_registry(wheel, 10, random.Random(0))]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == sorted(p.id for p in read_evals_registry(wheel, 10, random.Random(1)))
