"""The runtime quality predictor: prompt -> for every candidate model, the probability
that its answer is acceptable (``Estimate.quality``). RouteLLM's shape: it only
estimates; the knob's tolerance that turns the numbers into a choice lives in the policy.

A labelled model (one the artifact was trained on) uses its learned ability. Any other
model (newly added, an external provider) gets the *tier prior*: the ability that the
labelled models' (quality_tier, ability) pairs give its tier on a least-squares line
(one labelled tier: one ability unit per tier). Its estimate still depends on the
prompt, through the prompt's reliance on ability and its difficulty; the estimate lists
it under ``prior`` so the decision says so.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from router.classifier.artifact import PredictorArtifact

if TYPE_CHECKING:  # the encoders import torch; the runtime only calls embed()
    from router.classifier.encoders import PromptEncoder


@dataclass(frozen=True)
class Candidate:
    model_id: str
    quality_tier: int


@dataclass(frozen=True)
class Estimate:
    quality: dict[str, float]  # model id -> P(its answer is acceptable)
    prior: tuple[str, ...] = ()  # models estimated from their tier, not from labels


@dataclass(frozen=True)
class PromptItem:
    """What the predictor reads of a prompt: how much ability matters, how hard it is."""

    reliance: float
    difficulty: float

    def p_acceptable(self, ability: float) -> float:
        return _sigmoid(ability * self.reliance - self.difficulty)


class QualityPredictor:
    def __init__(self, artifact: PredictorArtifact, encoder: "PromptEncoder") -> None:
        self._artifact = artifact
        self._encoder = encoder
        self._learned: dict[str, float] = {
            m: float(a) for m, a in zip(artifact.models, artifact.abilities, strict=True)
        }
        self._tier_line = _tier_line(artifact.tiers, artifact.abilities)

    @property
    def artifact(self) -> PredictorArtifact:
        return self._artifact

    def estimate(self, text: str, candidates: Sequence[Candidate]) -> Estimate:
        return self.estimate_item(self.item(self._encoder.embed([text])[0]), candidates)

    def estimate_item(self, item: PromptItem, candidates: Sequence[Candidate]) -> Estimate:
        quality = {c.model_id: item.p_acceptable(self.ability(c)) for c in candidates}
        prior = tuple(c.model_id for c in candidates if c.model_id not in self._learned)
        return Estimate(quality=quality, prior=prior)

    def item(self, x: NDArray[np.float32]) -> PromptItem:
        art = self._artifact
        slope = float(x @ art.slope_weights) + art.slope_bias
        difficulty = float(x @ art.difficulty_weights) + art.difficulty_bias
        return PromptItem(_softplus(slope), difficulty)

    def ability(self, candidate: Candidate) -> float:
        if candidate.model_id in self._learned:
            return self._learned[candidate.model_id]
        intercept, slope = self._tier_line
        return intercept + slope * candidate.quality_tier

    def calibration_items(self) -> list[PromptItem]:
        """The held-out-fold prompts the knob is calibrated on."""
        return [PromptItem(_softplus(float(s)), float(d)) for s, d in self._artifact.calibration]


def _tier_line(tiers: NDArray[np.float64], abilities: NDArray[np.float64]) -> tuple[float, float]:
    if len(set(tiers.tolist())) < 2:
        return float(abilities.mean() - tiers.mean()), 1.0
    slope, intercept = np.polyfit(tiers, abilities, 1)
    return float(intercept), float(slope)


def _softplus(value: float) -> float:
    return value + math.log1p(math.exp(-value)) if value > 0 else math.log1p(math.exp(value))


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)
