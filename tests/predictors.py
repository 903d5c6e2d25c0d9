"""Quality-predictor artifacts for tests, built from real parts (the ``static`` prompt
encoder, ``PredictorArtifact``), never mocks.

``random_artifact()`` is a seeded artifact with random (non-zero) directions for the
tests that need predictions to vary with the prompt; ``artifact()`` one with chosen
parameters.
"""

import functools
import math

import numpy as np

from router.classifier.artifact import PredictorArtifact
from router.classifier.encoders import PromptEncoder, load_encoder

SMOL, QWEN = "smollm2-135m", "qwen2.5-coder-0.5b"
LABELLED = (SMOL, QWEN)  # the models the labelling fleet answers with, weakest first
LABELLED_TIERS = (1, 2)
LABELLED_ABILITIES = (0.0, 1.0)  # the trainer anchors the weakest at 0, the strongest at 1

# The stand-in's calibration prompts: its knob is calibrated on their items, as the
# trainer calibrates on held-out prompts.
CALIBRATION_PROMPTS = (
    "hello",
    "thanks, that helps",
    "What is the capital of Italy?",
    "Who painted the Mona Lisa?",
    "How many legs does a spider have?",
    "What year did the Berlin Wall fall?",
    "Translate 'good morning' into Spanish.",
    "Give me a synonym for 'happy'.",
    "What is 12 + 30?",
    "Compute 144 / 12.",
    "Solve for x: 3x - 7 = 11.",
    "What is the derivative of sin(x) * x^2?",
    "Prove that the square root of 2 is irrational.",
    "A train leaves at 3pm going 60 mph; another at 4pm going 80 mph. When does it catch up?",
    "Integrate e^(2x) cos(x) dx.",
    "Write a Python function that checks whether a string is a palindrome.",
    "Fix the bug: for i in range(len(xs)): if xs[i] = 0: print(i)",
    "Implement binary search in Rust and explain its complexity.",
    "Write a SQL query returning the top 5 customers by total order value.",
    "Explain the difference between a process and a thread.",
    "Refactor this JavaScript callback chain into async/await: fs.readFile(p, (e, d) => cb(d))",
    "Design a lock-free concurrent queue in C++ and argue why it is linearizable.",
    "Write a haiku about autumn.",
    "Tell me a short joke about cats.",
    "Write a cover letter for a junior data analyst position.",
    "Summarise the plot of Hamlet in three sentences.",
    "Compare the economic policies of Keynes and Hayek in a 500-word essay.",
    "What should I cook tonight with rice, eggs and spinach?",
    "Explain quantum entanglement to a ten-year-old.",
    "Is it better to rent or buy a house? Discuss the trade-offs.",
    "List three benefits of regular exercise.",
    "How do vaccines train the immune system?",
    "Plan a three-day itinerary for Kyoto.",
    "Describe the causes of the First World War.",
    "What is the time complexity of quicksort in the worst case and why?",
    "ok",
)


@functools.cache
def static_encoder() -> PromptEncoder:
    """The real ``static`` encoder, loaded once per test process."""
    return load_encoder("static")


def artifact(
    *,
    slope_weights: np.ndarray | None = None,
    slope_bias: float = 0.0,
    difficulty_weights: np.ndarray | None = None,
    difficulty_bias: float = 0.0,
    calibration: np.ndarray | None = None,
    models: tuple[str, ...] = LABELLED,
    tiers: tuple[float, ...] = LABELLED_TIERS,
    abilities: tuple[float, ...] = LABELLED_ABILITIES,
    dimensions: int | None = None,
) -> PredictorArtifact:
    """An artifact for the ``static`` encoder; weights default to zero, so every prompt
    gets the item (softplus(slope_bias), difficulty_bias)."""
    dimensions = dimensions or static_encoder().dimensions
    zeros = np.zeros(dimensions, dtype=np.float32)
    return PredictorArtifact(
        encoder="static",
        slope_weights=zeros if slope_weights is None else slope_weights.astype(np.float32),
        slope_bias=slope_bias,
        difficulty_weights=(
            zeros if difficulty_weights is None else difficulty_weights.astype(np.float32)
        ),
        difficulty_bias=difficulty_bias,
        models=models,
        abilities=np.array(abilities, dtype=np.float64),
        tiers=np.array(tiers, dtype=np.float64),
        calibration=(
            np.zeros((1, 2), dtype=np.float32)
            if calibration is None
            else calibration.astype(np.float32)
        ),
    )


def slope_logit(reliance: float) -> float:
    """The slope logit whose softplus is ``reliance`` (> 0)."""
    return reliance + math.log(-math.expm1(-reliance))


def random_artifact(seed: int = 0) -> PredictorArtifact:
    """Seeded random directions for slope and difficulty, scaled so that over
    ``CALIBRATION_PROMPTS`` each has mean 0 and standard deviation 1; the calibration set
    is those prompts' items."""
    encoder = static_encoder()
    rng = np.random.default_rng(seed)
    x = encoder.embed(list(CALIBRATION_PROMPTS)).astype(np.float64)
    maps = []
    for _ in range(2):
        direction = rng.normal(size=encoder.dimensions)
        raw = x @ direction
        maps.append((direction / raw.std(), float(-raw.mean() / raw.std())))
    (slope_w, slope_b), (difficulty_w, difficulty_b) = maps
    items = np.stack([x @ slope_w + slope_b, x @ difficulty_w + difficulty_b], axis=1)
    return artifact(
        slope_weights=slope_w,
        slope_bias=slope_b,
        difficulty_weights=difficulty_w,
        difficulty_bias=difficulty_b,
        calibration=items,
    )
