"""Leave-one-source-out evaluation: for each source package, a predictor trained without
any prompt from it is judged on all of its prompts.

Sources differ in house style as much as in content (templates, instructions, answer
formats), so a split inside one package measures recall of that package's style; a
held-out package measures what production traffic from elsewhere will see. The pooled
result concatenates every source's held-out predictions; it is the headline.

Each router is a ranking of prompts by how much they need the strong model, between the
weakest and the strongest labelled model (RouteLLM's APGR and CPT, ``evaluate``):
- ``predictor``: predicted P(strong acceptable) - P(weak acceptable);
- ``random``: every prompt alike (APGR 0.5 exactly);
- ``prompt length``: longer prompts first;
- ``best model per category``: the training sources' accuracy gap of the prompt's
  category (0 for a category the training sources lack);
- ``oracle``: the true gap, the best any router can do.
Always-weak and always-strong are the curve's two ends.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from router.training.evaluate import RouterResult, compare_routers
from router.training.labels import LabelledPrompt
from router.training.train import LabelledModels, correctness, fit_artifact, predict

POOLED = "pooled"


@dataclass(frozen=True)
class SourceResult:
    source: str
    prompts: int
    weak_accuracy: float
    strong_accuracy: float
    routers: dict[str, RouterResult]


def leave_one_source_out(
    records: Sequence[LabelledPrompt],
    x: NDArray[np.float32],
    models: LabelledModels,
    encoder: str,
) -> list[SourceResult]:
    """The pooled result first, then one per source (sorted by name)."""
    y = correctness(records, models)
    sources = np.array([r.source for r in records])
    scores = {name: np.zeros(len(records)) for name in ("predictor", "best model per category")}
    for source in sorted(set(sources.tolist())):
        held = sources == source
        train = [r for r, keep in zip(records, ~held, strict=True) if keep]
        artifact = fit_artifact(train, x[~held], models, encoder, {})
        p = predict(artifact, x[held])
        scores["predictor"][held] = p[:, -1] - p[:, 0]
        gaps = _category_gaps(train, y[~held])
        held_categories = [r.category for r, h in zip(records, held, strict=True) if h]
        scores["best model per category"][held] = [gaps.get(c, 0.0) for c in held_categories]
    results = [_result(POOLED, records, y, scores, np.ones(len(records), dtype=bool))]
    for source in sorted(set(sources.tolist())):
        results.append(_result(source, records, y, scores, sources == source))
    return results


def _category_gaps(train: Sequence[LabelledPrompt], y: NDArray[np.float64]) -> dict[str, float]:
    """Category -> the strong model's accuracy minus the weak one's, on ``train``."""
    categories = np.array([r.category for r in train])
    return {
        category: float(np.nanmean(y[categories == category, -1] - y[categories == category, 0]))
        for category in set(categories.tolist())
    }


def _result(
    name: str,
    records: Sequence[LabelledPrompt],
    y: NDArray[np.float64],
    scores: dict[str, NDArray[np.float64]],
    rows: NDArray[np.bool_],
) -> SourceResult:
    weak, strong = y[rows, 0], y[rows, -1]
    length = np.array([r.prompt_tokens for r in records], dtype=np.float64)[rows]
    rankings = {
        "predictor": scores["predictor"][rows],
        "random": np.zeros(int(rows.sum())),
        "prompt length": length,
        "best model per category": scores["best model per category"][rows],
        "oracle": strong - weak,
    }
    return SourceResult(
        source=name,
        prompts=int(rows.sum()),
        weak_accuracy=float(weak.mean()),
        strong_accuracy=float(strong.mean()),
        routers=compare_routers(rankings, weak, strong),
    )
