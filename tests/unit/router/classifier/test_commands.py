"""``switchboard router train`` end to end on a small labels file."""

import json
from pathlib import Path

import pytest

from router.classifier.artifact import ClassifierArtifact
from router.classifier.groups import unique_prompts
from router.classifier.labels import write_labels
from router.cli import main
from tests.unit.router.classifier.synthetic import synthetic_records


def test_train_writes_artifact_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels, out, reports = tmp_path / "labels.jsonl.gz", tmp_path / "c.npz", tmp_path / "r"
    write_labels(labels, synthetic_records())
    argv = ["router", "train", "--labels", str(labels), "--out", str(out)]
    assert main([*argv, "--report-dir", str(reports), "--seed", "0"]) == 0

    artifact = ClassifierArtifact.load(out)
    # Repeated prompts are counted once (see router.classifier.groups).
    assert artifact.provenance["prompts"] == len(unique_prompts(synthetic_records()))
    assert set(artifact.categories) == {"math", "language", "knowledge"}
    (json_path,) = reports.glob("routing_eval_*.json")
    report = json.loads(json_path.read_text())
    assert report["provenance"] == artifact.provenance
    assert report["command"].startswith(f"switchboard router train --labels {labels}")
    assert set(report["routers"]) == {"classifier", "random", "prompt length", "oracle"}
    assert report["routers"]["random"]["apgr"] == pytest.approx(0.5)
    assert len(report["routers"]["classifier"]["curve"]) == 21
    markdown = json_path.with_suffix(".md").read_text()
    assert "| classifier |" in markdown and "OpenAI Evals registry" in markdown
    assert json_path.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert "APGR" in capsys.readouterr().out
