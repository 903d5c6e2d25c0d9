"""The runtime classifier: prompt -> ``Estimate`` (task category and the probability that
the small model answers as well as the large one). RouteLLM's shape: it only estimates;
the threshold that turns the number into a choice lives in the policy."""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from router.classifier.artifact import ClassifierArtifact
from router.classifier.embedder import Embedder


@dataclass(frozen=True)
class Estimate:
    category: str
    category_probability: float
    small_suffices: float  # calibrated P(the small model's answer is as good)


class RoutingClassifier:
    def __init__(self, artifact: ClassifierArtifact, embedder: Embedder) -> None:
        self._artifact = artifact
        self._embedder = embedder

    def estimate(self, text: str) -> Estimate:
        return self.estimate_embedded(self._embedder.embed([text])[0])

    def estimate_embedded(self, embedding: NDArray[np.float32]) -> Estimate:
        art = self._artifact
        logit = float(embedding @ art.small_ok_weights) + art.small_ok_bias
        scores = art.category_weights @ embedding + art.category_bias
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        best = int(np.argmax(probabilities))
        return Estimate(
            category=art.categories[best],
            category_probability=float(probabilities[best]),
            small_suffices=float(1.0 / (1.0 + np.exp(-logit))),
        )

    def threshold_for(self, large_share: float) -> float:
        """P(small suffices) below which a request goes to the large model, so that a
        share ``large_share`` of traffic like the calibration set's goes there."""
        # The ends are exact: none or all of the traffic, whatever the table's extremes.
        if large_share <= 0.0:
            return -math.inf
        if large_share >= 1.0:
            return math.inf
        table = self._artifact.calibration
        return float(np.interp(large_share * (len(table) - 1), np.arange(len(table)), table))
