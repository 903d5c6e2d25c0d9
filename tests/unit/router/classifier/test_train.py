from pathlib import Path

import numpy as np
import pytest

from router.classifier.artifact import ClassifierArtifact
from router.classifier.commands import DEFAULT_LABELS
from router.classifier.embedder import Embedder
from router.classifier.evaluate import held_out_evaluation
from router.classifier.groups import unique_prompts
from router.classifier.labels import read_labels
from router.classifier.model import RoutingClassifier
from router.classifier.text import routing_text
from router.classifier.train import Trained, embed_records, fit_artifact, split_by_task
from tests.unit.router.classifier.synthetic import synthetic_records


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_holds_out_whole_tasks(seed: int) -> None:
    records = synthetic_records()
    split = split_by_task(records, held_out_share=0.25, seed=seed)
    train_tasks = {r.task for r in split.train}
    held_tasks = {r.task for r in split.held_out}
    assert not train_tasks & held_tasks
    assert len(split.train) + len(split.held_out) == len(records)
    assert len(held_tasks) == round(0.25 * len(train_tasks | held_tasks))
    assert split == split_by_task(records, held_out_share=0.25, seed=seed)


def test_split_keeps_a_task_on_each_side() -> None:
    records = synthetic_records()
    assert len({r.task for r in split_by_task(records, 0.999, 0).train}) == 1
    assert len(split_by_task(records, 0.0, 0).held_out_tasks) == 1
    with pytest.raises(ValueError, match="two or more task groups"):
        split_by_task([r for r in records if r.task == "capital-0"], 0.25, 0)


def test_learnable_labels_generalise_to_held_out_tasks(
    trained: Trained, embedder: Embedder
) -> None:
    labels = {r.small_suffices for r in trained.split.held_out}
    assert labels == {True, False}, "the seed should hold out both kinds of task"
    classifier = RoutingClassifier(trained.artifact, embedder)
    evaluation = held_out_evaluation(
        classifier, trained.split.held_out, trained.held_out_embeddings
    )
    assert evaluation.roc_auc > 0.9
    assert evaluation.routers["classifier"].apgr > evaluation.routers["random"].apgr
    calibration = trained.artifact.calibration
    assert calibration.shape == (101,)
    assert (np.diff(calibration) >= 0).all()


def test_provenance_describes_the_split(trained: Trained) -> None:
    provenance = trained.artifact.provenance
    assert provenance["held_out_tasks"] == len(trained.split.held_out_tasks)
    assert provenance["train_prompts"] == len(trained.split.train)
    assert provenance["prompts"] == len(trained.split.train) + len(trained.split.held_out)
    assert provenance["seed"] == 0
    assert provenance["small_model"] == "small"
    assert provenance["cross_validation"]["folds"] == 5


def test_fitting_is_deterministic(trained: Trained, embedder: Embedder) -> None:
    again = fit_artifact(
        trained.split.train,
        embed_records(embedder, trained.split.train),
        {key: v for key, v in trained.artifact.provenance.items() if key != "cross_validation"},
    )
    _assert_same(again, trained.artifact)


def test_artifact_round_trip(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "classifier.npz"
    trained.artifact.save(path)
    _assert_same(ClassifierArtifact.load(path), trained.artifact)


def _assert_same(actual: ClassifierArtifact, expected: ClassifierArtifact) -> None:
    np.testing.assert_array_equal(actual.small_ok_weights, expected.small_ok_weights)
    assert actual.small_ok_bias == pytest.approx(expected.small_ok_bias, rel=1e-6)
    np.testing.assert_array_equal(actual.category_weights, expected.category_weights)
    np.testing.assert_array_equal(actual.category_bias, expected.category_bias)
    np.testing.assert_array_equal(actual.calibration, expected.calibration)
    assert actual.categories == expected.categories
    assert actual.provenance == expected.provenance


def test_held_out_tasks_share_no_prompt_or_instructions_with_training() -> None:
    """Eval folders that reuse each other's samples or system prompts stay together."""
    records = unique_prompts(read_labels(DEFAULT_LABELS))
    split = split_by_task(records, held_out_share=0.25, seed=0)
    seen = {routing_text(r.messages) for r in split.train}
    systems = {m["content"] for r in split.train for m in r.messages if m["role"] == "system"}
    for record in split.held_out:
        assert routing_text(record.messages) not in seen
        for message in record.messages:
            if message["role"] == "system" and len(message["content"]) >= 40:
                assert message["content"] not in systems, record.task
