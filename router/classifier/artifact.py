"""The trained quality predictor on disk: one ``.npz`` of plain arrays (loaded with
``allow_pickle=False``, so a file cannot run code) plus a JSON string of provenance."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

SHIPPED_ARTIFACT = Path(__file__).parent / "data" / "classifier.npz"


@dataclass(frozen=True)
class PredictorArtifact:
    """Two linear maps over the prompt representation x, and one ability per model.

    ``reliance(x) = softplus(slope_weights . x + slope_bias)``: how much ability matters
    for this prompt; ``difficulty(x) = difficulty_weights . x + difficulty_bias``. A model
    of ability theta answers acceptably with probability
    ``sigmoid(theta * reliance(x) - difficulty(x))`` (a two-parameter IRT model whose
    item parameters come from the prompt). ``abilities`` are learned for the labelled
    ``models``, whose ``tiers`` place unlabelled models on the same scale.
    ``calibration`` holds (slope logit, difficulty) of held-out-fold prompts: the knob's
    tolerance for any fleet is calibrated on them.
    """

    encoder: str
    slope_weights: NDArray[np.float32]  # (dimensions,)
    slope_bias: float
    difficulty_weights: NDArray[np.float32]  # (dimensions,)
    difficulty_bias: float
    models: tuple[str, ...]
    abilities: NDArray[np.float64]  # (models,)
    tiers: NDArray[np.float64]  # (models,): their quality_tier when labelled
    calibration: NDArray[np.float32]  # (prompts, 2)
    provenance: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                encoder=np.array(self.encoder),
                slope_weights=self.slope_weights,
                slope_bias=np.float64(self.slope_bias),
                difficulty_weights=self.difficulty_weights,
                difficulty_bias=np.float64(self.difficulty_bias),
                models=np.array(self.models),
                abilities=self.abilities,
                tiers=self.tiers,
                calibration=self.calibration,
                provenance=np.array(json.dumps(self.provenance, sort_keys=True)),
            )

    @classmethod
    def load(cls, path: Path) -> "PredictorArtifact":
        with np.load(path, allow_pickle=False) as arrays:
            return cls(
                encoder=str(arrays["encoder"]),
                slope_weights=arrays["slope_weights"].astype(np.float32),
                slope_bias=float(arrays["slope_bias"]),
                difficulty_weights=arrays["difficulty_weights"].astype(np.float32),
                difficulty_bias=float(arrays["difficulty_bias"]),
                models=tuple(str(m) for m in arrays["models"]),
                abilities=arrays["abilities"].astype(np.float64),
                tiers=arrays["tiers"].astype(np.float64),
                calibration=arrays["calibration"].astype(np.float32),
                provenance=json.loads(str(arrays["provenance"])),
            )
