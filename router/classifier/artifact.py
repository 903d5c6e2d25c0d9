"""The trained classifier on disk: one ``.npz`` of plain arrays (loaded with
``allow_pickle=False``, so a file cannot run code) plus a JSON string of provenance."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

SHIPPED_ARTIFACT = Path(__file__).parent / "data" / "classifier.npz"


@dataclass(frozen=True)
class ClassifierArtifact:
    """Two linear heads over the prompt embedding, and the calibration table.

    ``calibration[i]`` is the i-th percentile of P(small suffices) over held-out
    predictions: routing everything below ``calibration[round(100 * s)]`` to the large
    model sends a share ``s`` of traffic there.
    """

    small_ok_weights: NDArray[np.float32]  # (dimensions,)
    small_ok_bias: float
    category_weights: NDArray[np.float32]  # (categories, dimensions)
    category_bias: NDArray[np.float32]  # (categories,)
    categories: tuple[str, ...]
    calibration: NDArray[np.float32]  # (101,), non-decreasing
    provenance: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                small_ok_weights=self.small_ok_weights,
                small_ok_bias=np.float32(self.small_ok_bias),
                category_weights=self.category_weights,
                category_bias=self.category_bias,
                categories=np.array(self.categories),
                calibration=self.calibration,
                provenance=np.array(json.dumps(self.provenance, sort_keys=True)),
            )

    @classmethod
    def load(cls, path: Path) -> "ClassifierArtifact":
        with np.load(path, allow_pickle=False) as arrays:
            return cls(
                small_ok_weights=arrays["small_ok_weights"].astype(np.float32),
                small_ok_bias=float(arrays["small_ok_bias"]),
                category_weights=arrays["category_weights"].astype(np.float32),
                category_bias=arrays["category_bias"].astype(np.float32),
                categories=tuple(str(c) for c in arrays["categories"]),
                calibration=arrays["calibration"].astype(np.float32),
                provenance=json.loads(str(arrays["provenance"])),
            )
