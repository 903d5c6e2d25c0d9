"""Reading BIG-bench: an sdist-shaped tar.gz with the real ``benchmark_tasks`` layout."""

import io
import json
import random
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

from router.training.grading import grade
from router.training.sources import GradablePrompt
from router.training.sources.bigbench import CHOICE_INSTRUCTION, read_bigbench

TASKS = "bigbench-1.0.0/bigbench/benchmark_tasks/"
SUMS = 12  # examples of the generative numeric task


def task(keywords: list[str], examples: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "t", "description": "d", "keywords": keywords, "examples": examples, **extra}


def bigbench_sdist(tmp_path: Path) -> Path:
    files: dict[str, Any] = {
        TASKS + "sky_colours/task.json": task(
            ["multiple choice", "common sense"],
            [
                {
                    "input": "What colour is a clear sky?",
                    "target_scores": {"red": 0, "blue": 1, "green": 0},
                },
                {"input": "What colour is grass?", "target_scores": {"red": 0.0, "green": 1.0}},
                {"input": "A tie?", "target_scores": {"yes": 1, "no": 1}},
                {"input": "Too many?", "target_scores": {f"o{i}": int(i == 0) for i in range(9)}},
                {"input": "None right?", "target_scores": {"a": 0, "b": 0}},
                {"input": "One option?", "target_scores": {"only": 1}},
                {"input": "Long? " + "x" * 3000, "target_scores": {"a": 1, "b": 0}},
            ],
            task_prefix="Answer the question.\n",
        ),
        TASKS + "two_digit_sums/task.json": task(
            ["arithmetic", "mathematics"],
            [{"input": "What is 600 plus 400?", "target": ["1,000", "1000"]}]
            + [{"input": f"What is {i} plus 30?", "target": str(i + 30)} for i in range(SUMS - 1)],
        ),
        TASKS + "capital_cities/task.json": task(
            ["world knowledge"],
            [
                {"input": "Capital of France?", "target": "Paris"},
                {"input": "Capital of Peru?", "target": ["Lima", "lima"]},
                {"input": "Spell four.", "target": ["4", "four"]},  # not all numbers: match
                {"input": "Overlong?", "target": "x" * 100},
                {"input": "One overlong?", "target": ["short", "y" * 100]},
                {"input": "Empty?", "target": ""},
                {"input": "No target?"},
                {"target": "no input"},
            ],
        ),
        # The task's own file has no examples; its subtask's file has them.
        TASKS + "logic_grid/task.json": {"name": "logic_grid", "keywords": ["logical reasoning"]},
        TASKS + "logic_grid/easy/task.json": task(
            ["logical reasoning"], [{"input": "If A then B. A holds. What holds?", "target": "B"}]
        ),
        TASKS + "too/deep/down/task.json": task([], [{"input": "deep?", "target": "x"}]),
        "bigbench-1.0.0/bigbench/api/test_data/task.json": task(
            [], [{"input": "?", "target": "x"}]
        ),
    }
    sdist = tmp_path / "bigbench-1.0.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name, content in files.items():
            add(archive, name, json.dumps(content).encode())
        add(archive, TASKS + "programmatic/task.py", b"class Task: pass\n")  # no task.json
        add(archive, TASKS + "sky_colours/README.md", b"# Sky colours\n")
        folder = tarfile.TarInfo(TASKS + "empty_folder/task.json")  # a folder, not a file
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
    return sdist


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def by_task(prompts: list[GradablePrompt]) -> dict[str, list[GradablePrompt]]:
    tasks: dict[str, list[GradablePrompt]] = {}
    for prompt in prompts:
        tasks.setdefault(prompt.task, []).append(prompt)
    return tasks


def content(prompt: GradablePrompt) -> str:
    (message,) = prompt.messages
    assert message["role"] == "user"
    return message["content"]


def test_reads_every_json_task_and_skips_the_rest(tmp_path: Path) -> None:
    prompts = list(read_bigbench(bigbench_sdist(tmp_path), 100, random.Random(0)))
    tasks = by_task(prompts)
    assert sorted(tasks) == ["capital_cities", "logic_grid", "sky_colours", "two_digit_sums"]
    assert [p.task for p in prompts] == sorted(p.task for p in prompts)  # task by task
    assert {p.source for p in prompts} == {"bigbench"}
    assert {p.category for p in tasks["two_digit_sums"]} == {"math"}
    assert {p.category for p in tasks["logic_grid"]} == {"logic"}


def test_multiple_choice_letters_the_options(tmp_path: Path) -> None:
    tasks = by_task(list(read_bigbench(bigbench_sdist(tmp_path), 100, random.Random(0))))
    sky = {content(p).split("\n\n")[1]: p for p in tasks["sky_colours"]}
    assert sorted(sky) == ["What colour is a clear sky?", "What colour is grass?"]  # rest skipped
    clear = sky["What colour is a clear sky?"]
    assert clear.grader == "choice"
    assert content(clear) == (
        "Answer the question.\n\nWhat colour is a clear sky?\n\n"
        f"Options:\n(A) red\n(B) blue\n(C) green\n\n{CHOICE_INSTRUCTION}"
    )
    assert clear.reference.choices == ("red", "blue", "green")
    assert clear.reference.correct == 1
    assert grade(clear, "(B)") and grade(clear, "blue") and not grade(clear, "A")
    grass = sky["What colour is grass?"]
    assert (grass.reference.choices, grass.reference.correct) == (("red", "green"), 1)


def test_short_targets_are_graded_as_numbers_or_by_matching(tmp_path: Path) -> None:
    tasks = by_task(list(read_bigbench(bigbench_sdist(tmp_path), 100, random.Random(0))))
    sums = {content(p): p for p in tasks["two_digit_sums"]}
    assert len(sums) == SUMS
    assert {p.grader for p in sums.values()} == {"number"}
    thousand = sums["What is 600 plus 400?"]
    assert thousand.reference.answers == ("1,000", "1000")
    assert grade(thousand, "600 + 400 = 1000")
    assert sums["What is 10 plus 30?"].reference.answers == ("40",)

    capitals = {content(p): p for p in tasks["capital_cities"]}
    assert sorted(capitals) == ["Capital of France?", "Capital of Peru?", "Spell four."]
    assert {p.grader for p in capitals.values()} == {"match"}
    assert capitals["Capital of Peru?"].reference.answers == ("Lima", "lima")
    assert capitals["Spell four."].reference.answers == ("4", "four")

    (grid,) = tasks["logic_grid"]
    assert grid.grader == "match"
    assert content(grid) == "If A then B. A holds. What holds?"
    assert grid.reference.answers == ("B",)


def test_per_task_limit_and_seed_are_reproducible(tmp_path: Path) -> None:
    sdist = bigbench_sdist(tmp_path)
    first = list(read_bigbench(sdist, 2, random.Random(3)))
    assert Counter(p.task for p in first) == {
        "capital_cities": 2, "logic_grid": 1, "sky_colours": 2, "two_digit_sums": 2,
    }  # fmt: skip
    assert first == list(read_bigbench(sdist, 2, random.Random(3)))
    picks = {tuple(p.id for p in read_bigbench(sdist, 2, random.Random(s))) for s in range(5)}
    assert len(picks) > 1  # the seed chooses which examples
