"""``switchboard router train`` end to end through the CLI, on small synthetic labels
answered by the default label fleet's two models (quality tiers 1 and 2 in its config)."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from router.classifier.artifact import PredictorArtifact
from router.classifier.encoders import PromptEncoder
from router.classifier.model import Candidate, Estimate, QualityPredictor
from router.cli.main import main
from router.training.generalisation import POOLED
from router.training.labels import ModelAnswer, read_labels, write_labels
from tests.unit.router.synthetic_labels import LARGE, SMALL, synthetic_records

pytestmark = pytest.mark.usefixtures("one_torch_thread", "quick_cv")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # main() sets it; keep it to this test


def _train(labels: Path, out: Path, reports: Path, *extra: str) -> int:
    argv = ["router", "train", "--labels", str(labels), "--out", str(out)]
    return main([*argv, "--report-dir", str(reports), *extra])


def test_train_writes_the_artifact_and_the_report(
    tmp_path: Path, encoder: PromptEncoder, capsys: pytest.CaptureFixture[str]
) -> None:
    records = synthetic_records(("alpha", "beta"), per_task=2)
    duplicate = records[0]
    new_text = ({"role": "user", "content": "Write a haiku about labels."},)
    unanswered = dataclasses.replace(
        records[1],
        prompt=dataclasses.replace(records[1].prompt, messages=new_text),
        answers={SMALL: ModelAnswer(True)},
    )
    labels, out, reports = tmp_path / "labels.jsonl.gz", tmp_path / "c.npz", tmp_path / "r"
    write_labels(labels, [*records, duplicate, unanswered])
    assert _train(labels, out, reports, "--label-hours", "2.5") == 0

    artifact = PredictorArtifact.load(out)
    assert artifact.encoder == "static"
    assert artifact.models == (SMALL, LARGE)  # weakest first, by the config's tiers
    np.testing.assert_array_equal(artifact.tiers, [1.0, 2.0])
    np.testing.assert_array_equal(artifact.abilities, [0.0, 1.0])
    # The duplicate and the prompt without the large model's answer are left out.
    assert artifact.calibration.shape == (len(records), 2)
    provenance = artifact.provenance
    assert provenance["prompts"] == len(records)
    assert provenance["label_hours"] == 2.5
    assert provenance["models"] == {SMALL: 1, LARGE: 2}
    assert provenance["labels_sha256"] == hashlib.sha256(labels.read_bytes()).hexdigest()
    assert provenance["cross_validation"]["l2"] == 1e-2

    predictor = QualityPredictor(artifact, encoder)
    estimate = predictor.estimate(
        "Write a Python function that sorts a list.", [Candidate(SMALL, 1), Candidate(LARGE, 2)]
    )
    assert isinstance(estimate, Estimate)
    assert set(estimate.quality) == {SMALL, LARGE}
    assert estimate.prior == ()
    assert 0.0 < estimate.quality[SMALL] <= estimate.quality[LARGE] < 1.0

    (json_path,) = reports.glob("routing_eval_*.json")
    report = json.loads(json_path.read_text())
    assert report["provenance"] == {k: v for k, v in provenance.items() if k != "cross_validation"}
    command = report["command"]
    assert command.startswith(
        f"switchboard router train --labels {labels} --out {out} --report-dir {reports} --config "
    )
    assert command.endswith("label-fleet.vllm-cpu.yaml --encoder static --label-hours 2.5")
    sources = [s["source"] for s in report["leave_one_source_out"]]
    assert sources == [POOLED, "alpha", "beta"]
    markdown = json_path.with_suffix(".md").read_text()
    assert "| alpha | 24 |" in markdown and "Labelling took 2.5 h" in markdown
    assert json_path.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert f"artifact -> {out}: abilities {{'{SMALL}': 0.0, '{LARGE}': 1.0}}" in printed
    assert f"{POOLED}: {len(records)} prompts, APGR predictor" in printed


def test_one_source_writes_the_artifact_without_a_report(tmp_path: Path) -> None:
    labels, out, reports = tmp_path / "labels.jsonl.gz", tmp_path / "c.npz", tmp_path / "r"
    write_labels(labels, synthetic_records(("alpha",), per_task=1))
    assert _train(labels, out, reports) == 0
    assert PredictorArtifact.load(out).models == (SMALL, LARGE)
    assert not reports.exists()


def test_a_model_outside_the_config_is_refused(tmp_path: Path) -> None:
    record = synthetic_records(("alpha",), per_task=1)[0]
    labels, out = tmp_path / "labels.jsonl.gz", tmp_path / "c.npz"
    write_labels(labels, [dataclasses.replace(record, answers={"mystery": ModelAnswer(True)})])
    with pytest.raises(SystemExit, match="'mystery' is not a local model of the config"):
        _train(labels, out, tmp_path / "r")
    assert not out.exists()


def test_label_takes_your_own_graded_traffic_without_starting_an_engine(tmp_path: Path) -> None:
    prompts, out = tmp_path / "mine.jsonl", tmp_path / "mine.jsonl.gz"
    rows = [
        {"messages": [{"role": "user", "content": f"Ticket {i}: refund?"}], "task": "support",
         "grades": {SMALL: i % 2 == 0, LARGE: True}}
        for i in range(4)
    ]  # fmt: skip
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["router", "label", "--prompts", str(prompts), "--out", str(out)]) == 0
    records = read_labels(out)
    assert [r.task for r in records] == ["support"] * 4
    assert [r.correct(SMALL) for r in records] == [True, False, True, False]
    assert all(r.correct(LARGE) for r in records)
