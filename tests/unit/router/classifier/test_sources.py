"""Reading the evals registry: a wheel-shaped zip with the registry's real layout."""

import json
import random
import zipfile
from pathlib import Path

from router.classifier.sources import read_evals_registry


def registry_wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / "evals.whl"
    samples = [
        {"input": [{"role": "system", "content": "Add."}, {"role": "user", "content": "2+2"}],
         "ideal": "4"},
        {"input": "Capital of France?", "ideal": ["Paris", "paris"]},
        {"input": [{"role": "user", "content": [{"type": "image_url"}]}], "ideal": "x"},
        {"input": "too long an ideal", "ideal": "y" * 500},
    ]  # fmt: skip
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "evals/registry/evals/simple_math.yaml",
            "simple_math:\n  id: simple_math.dev.v0\n  description: arithmetic\n"
            "simple_math.dev.v0:\n  class: evals.elsuite.basic.match:Match\n"
            "  args:\n    samples_jsonl: simple_math/samples.jsonl\n",
        )
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
    return wheel


def test_reads_usable_match_graded_samples(tmp_path: Path) -> None:
    prompts = list(read_evals_registry(registry_wheel(tmp_path), 10, random.Random(0)))
    assert sorted(p.ideals for p in prompts) == [("4",), ("Paris", "paris")]
    assert {p.task for p in prompts} == {"simple_math"}
    assert {p.category for p in prompts} == {"math"}
    by_ideal = {p.ideals: p for p in prompts}
    assert by_ideal[("Paris", "paris")].messages == (
        {"role": "user", "content": "Capital of France?"},
    )


def test_per_task_limit_and_seed_are_reproducible(tmp_path: Path) -> None:
    wheel = registry_wheel(tmp_path)
    first = list(read_evals_registry(wheel, 1, random.Random(7)))
    assert len(first) == 1
    assert first == list(read_evals_registry(wheel, 1, random.Random(7)))
