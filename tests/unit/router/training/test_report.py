"""The leave-one-source-out report: json, markdown and plot, from hand-made results."""

import datetime
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from router.training.evaluate import compare_routers
from router.training.generalisation import POOLED, SourceResult
from router.training.labels import LabelledPrompt
from router.training.report import CURVE_GRID, write_report
from tests.unit.router.synthetic_labels import LARGE, SMALL, synthetic_records

DAY = datetime.date(2025, 3, 4)
COMMAND = "switchboard router train --labels labels.jsonl.gz"


def _result(
    source: str, predictor: list[float], weak: list[int], strong: list[int]
) -> SourceResult:
    gain = np.subtract(strong, weak)
    rankings = {
        "predictor": predictor,
        "random": np.zeros(len(weak)),
        "prompt length": np.arange(len(weak)),
        "best model per category": np.zeros(len(weak)),
        "oracle": gain,
    }
    return SourceResult(
        source=source,
        prompts=len(weak),
        weak_accuracy=float(np.mean(weak)),
        strong_accuracy=float(np.mean(strong)),
        routers=compare_routers(rankings, weak, strong),
    )


# alpha: the predictor ranks perfectly. beta: both models score the same, so PGR, APGR
# and CPT are undefined (NaN).
ALPHA = _result("alpha", [0.9, 0.1, 0.8, 0.2], [0, 1, 0, 1], [1, 1, 1, 1])
BETA = _result("beta", [0.5, 0.4], [1, 0], [0, 1])
POOLED_RESULT = _result(
    POOLED, [0.9, 0.1, 0.8, 0.2, 0.5, 0.4], [0, 1, 0, 1, 1, 0], [1, 1, 1, 1, 0, 1]
)
RESULTS = [POOLED_RESULT, ALPHA, BETA]


@pytest.fixture(scope="module")
def records() -> list[LabelledPrompt]:
    return synthetic_records(("alpha", "beta"), per_task=1)


@pytest.fixture
def written(tmp_path: Path, records: list[LabelledPrompt]) -> tuple[Path, Path, Path]:
    provenance = {"encoder": "static over all-MiniLM-L6-v2", "label_hours": None}
    return write_report(RESULTS, records, provenance, COMMAND, tmp_path / "reports", DAY)


def test_writes_the_three_files_named_by_date(written: tuple[Path, Path, Path]) -> None:
    json_path, md_path, png_path = written
    assert [p.name for p in written] == [
        "routing_eval_20250304.json",
        "routing_eval_20250304.md",
        "routing_eval_20250304.png",
    ]
    assert json_path.parent.name == "reports"
    assert png_path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert md_path.read_text().startswith("# Routing quality predictor")


def test_json_holds_every_source_with_nan_as_null(
    written: tuple[Path, Path, Path], records: list[LabelledPrompt]
) -> None:
    text = written[0].read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert data["date"] == "2025-03-04"
    assert data["command"] == COMMAND
    assert data["data"]["prompts"] == len(records)
    assert data["data"]["by_source"] == {"alpha": 12, "beta": 12}
    assert data["data"]["by_category"] == {"code": 12, "general": 12}
    assert data["data"]["licences"] == {"alpha": "user data", "beta": "user data"}
    assert data["data"]["accuracy"] == {SMALL: 0.5, LARGE: 1.0}
    pooled, alpha, beta = data["leave_one_source_out"]
    assert [s["source"] for s in (pooled, alpha, beta)] == [POOLED, "alpha", "beta"]
    assert alpha["prompts"] == 4 and alpha["weak_accuracy"] == 0.5
    predictor = alpha["routers"]["predictor"]
    assert predictor["apgr"] == pytest.approx(0.75)
    assert predictor["cpt_50"] == pytest.approx(0.25)
    assert len(predictor["curve"]) == len(CURVE_GRID)
    assert predictor["curve"][-1] == {"share_to_strong": 1.0, "quality": 1.0}
    for router in beta["routers"].values():
        assert router["apgr"] is None and router["cpt_50"] is None and router["cpt_80"] is None


def test_markdown_has_the_pooled_table_and_a_row_per_source(
    written: tuple[Path, Path, Path],
) -> None:
    markdown = written[1].read_text()
    assert "## Pooled over every held-out source (6 prompts)" in markdown
    pooled_table = markdown.split("## Per held-out source")[0]
    for name in POOLED_RESULT.routers:
        assert f"| {name} | " in pooled_table
    random_row = _row(pooled_table, "random")
    assert random_row[:3] == ["0.500", "0.500", "0.800"]  # APGR, CPT(50%), CPT(80%)
    alpha = _row(markdown, "alpha")
    assert alpha[:3] == ["4", "0.500", "1.000"]  # prompts, weak and strong accuracy
    assert alpha[3] == "0.750"  # the predictor's APGR
    beta = _row(markdown, "beta")
    assert beta[3:] == ["n/a"] * (len(BETA.routers) + 1)
    assert "| nan" not in markdown.lower()
    assert "Labelling took n/a h" in markdown  # label_hours was not given
    assert "![pooled cost-quality curves](routing_eval_20250304.png)" in markdown
    assert f"Command: `{COMMAND}`" in markdown


def test_markdown_shows_the_label_hours_when_given(
    tmp_path: Path, records: list[LabelledPrompt]
) -> None:
    provenance: dict[str, Any] = {"encoder": "static", "label_hours": 7.5}
    _, md_path, _ = write_report(RESULTS, records, provenance, COMMAND, tmp_path, DAY)
    assert "Labelling took 7.5 h" in md_path.read_text()


def _row(markdown: str, first_cell: str) -> list[str]:
    """The cells after the first of the table row that starts with ``first_cell``."""
    (line,) = [line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |")]
    return [cell.strip() for cell in line.strip("|").split("|")][1:]
