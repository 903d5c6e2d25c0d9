"""Predicted time to first token (TTFT) of one more request on a local model.

TTFT = the wait for a batch slot + the prefill. The wait replays the model's batch: the
requests in flight hold the slots until their expected ends, those queued before this one
take the earliest free slots in turn, and this one takes the next. Durations come from
rates learned online from the requests this router served, exponentially weighted so they
follow load: prefill seconds as a linear function of the prompt tokens and of the
requests decoding beside it in the batch (a busy batch slows each engine step; learned
from requests that found a free slot, so a wrong wait never teaches the prefill), decode
seconds per output token, and the natural answer length: a request ends at its budget or
at that length, whichever comes first. Only answers that stopped before their budget
teach the length, so a model that always fills its budget is expected to fill it.

The engines' counts cover every router's requests; this router knows its own in detail.
Requests it does not know (other routers') count as half done if running, whole if
waiting: those are what the engines held when polled beyond this router's requests then
(started before the poll, or finished since), so a count that lags a finished request is
no phantom. Until it has seen a few requests a model uses conservative priors.

A target is about the tail, not the mean: each prediction also carries ``tail_s``, the
expected TTFT scaled by the model's margin (``router.load.ttft_margin``), which is what
the saturation rule compares with a target. The TTFTs of the last requests that found
the model idle give its unloaded p95, which a target of ``auto`` doubles.
"""

import heapq
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from router.load.ttft_margin import TtftMargin
from serving.engine import EngineStats, GenerationChunk

FINISHED_MEMORY_S = 10.0  # how long finished requests are remembered, against old polls
# The unloaded p95: from the TTFTs of the last requests that found the model idle.
UNLOADED_MEMORY, UNLOADED_MIN = 200, 20
SMOOTHING = 0.1  # weight of the newest sample: about the last 10-20 requests count
# Priors until requests are seen: a slow small model on CPU, and a typical short answer.
PRIOR_PREFILL_S = 0.3
PRIOR_DECODE_S_PER_TOKEN = 0.1
PRIOR_OUTPUT_TOKENS = 128.0


class Ewma:
    """An exponentially weighted mean, starting from a prior."""

    def __init__(self, prior: float) -> None:
        self.value = prior
        self.samples = 0

    def observe(self, sample: float) -> None:
        self.samples += 1
        # The first samples replace the prior quickly (weight 1/n until SMOOTHING).
        weight = max(SMOOTHING, 1.0 / self.samples)
        self.value += weight * (sample - self.value)


class WeightedLinear:
    """y ~ intercept + slopes . x, fitted by exponentially weighted least squares (with
    ``Ewma``'s weights), refitted at each sample so a prediction is one dot product. The
    slopes are kept >= 0 (time grows with work): a feature whose slope would be negative
    is left out of the fit. So is one whose recent values spread (standard deviation)
    less than its ``resolution``: a slope fitted to noise, or to one old sample whose
    weight has decayed, would extrapolate wildly (a steady full batch says nothing of an
    empty one)."""

    def __init__(self, prior_intercept: float, resolution: Sequence[float]) -> None:
        self.samples = 0
        features = len(resolution)
        self._min_variance = np.square(np.asarray(resolution, dtype=float))
        self._x, self._y = np.zeros(features), prior_intercept
        self._xx, self._xy = np.zeros((features, features)), np.zeros(features)
        self._slopes = np.zeros(features)

    def observe(self, x: Sequence[float], y: float) -> None:
        self.samples += 1
        weight = max(SMOOTHING, 1.0 / self.samples)
        v = np.asarray(x, dtype=float)
        self._x += weight * (v - self._x)
        self._y += weight * (y - self._y)
        self._xx += weight * (np.outer(v, v) - self._xx)
        self._xy += weight * (v * y - self._xy)
        self._slopes = self._fit() if self.samples >= 3 else np.zeros_like(self._x)

    def __call__(self, x: Sequence[float]) -> float:
        return max(self._y + float(self._slopes @ (np.asarray(x, dtype=float) - self._x)), 0.0)

    def _fit(self) -> NDArray[np.float64]:
        covariance = self._xx - np.outer(self._x, self._x)
        cross = self._xy - self._x * self._y
        slopes = np.zeros_like(self._x)
        active = np.diag(covariance) >= self._min_variance
        while active.any():
            kept = np.flatnonzero(active)
            solved = np.linalg.lstsq(covariance[np.ix_(kept, kept)], cross[kept], rcond=None)[0]
            if (solved >= 0).all():
                slopes[kept] = solved
                break
            active[kept[solved < 0]] = False
        return slopes


@dataclass(eq=False)  # each request is itself: two alike are still two
class InFlight:
    """One request this router sent to the model, until its stream closes."""

    started_at: float
    prompt_tokens: int
    budget: int  # the most tokens it may generate
    predicted: "Prediction | None"  # None: sent without one (past the model's limits)
    target_s: float | None = None  # the TTFT target it was sent under
    first_token_at: float | None = None
    completion_tokens: int | None = None  # from the engine's usage, once it says

    def saw(self, chunk: GenerationChunk) -> None:
        if chunk.usage is not None:
            self.completion_tokens = chunk.usage.completion_tokens


@dataclass(frozen=True)
class RequestSize:
    prompt_tokens: int
    budget: int  # the most tokens it may generate


# What the saturation gauge and the dashboard ask about: a short prompt, a typical answer.
NOMINAL = RequestSize(prompt_tokens=64, budget=1 << 30)


@dataclass(frozen=True)
class Prediction:
    wait_s: float
    ttft_s: float  # the expected TTFT
    beside: float = 0.0  # requests per replica in the batch its prefill runs with
    tail_s: float | None = None  # the expected TTFT scaled by the model's margin

    @property
    def likely_max_s(self) -> float:
        return self.ttft_s if self.tail_s is None else self.tail_s


class TtftModel:
    """One local model: its learned rates and this router's requests in flight to it."""

    def __init__(self, tail_quantile: float = 0.95) -> None:
        """``tail_quantile``: the share of requests a target holds for."""
        # Prefill seconds by (prompt tokens, requests decoding beside it): on a busy batch
        # its prefill shares each engine step with their decodes. Resolutions: 8 tokens,
        # half a request per replica.
        self.prefill_s = WeightedLinear(PRIOR_PREFILL_S, resolution=(8.0, 0.5))
        # Decode seconds per token by the requests beside it when it started.
        self.decode_s_per_token = WeightedLinear(PRIOR_DECODE_S_PER_TOKEN, resolution=(0.5,))
        self.output_tokens = Ewma(PRIOR_OUTPUT_TOKENS)  # of answers that stopped by themselves
        self.margin = TtftMargin(tail_quantile)
        self.unloaded_p95_s: float | None = None  # until UNLOADED_MIN idle requests
        self._unloaded: deque[float] = deque(maxlen=UNLOADED_MEMORY)
        self.in_flight: list[InFlight] = []
        self._finished_at: deque[float] = deque()  # this router's recent finishes, in order

    def predict(
        self, now: float, replicas: Iterable[EngineStats], polled_at: float, size: RequestSize
    ) -> Prediction:
        """``polled_at``: when ``replicas`` were read, on the same clock as ``now``."""
        wait, beside = self._wait_s(now, tuple(replicas), polled_at)
        ttft = wait + self.prefill(size.prompt_tokens, beside)
        return Prediction(wait, ttft, beside, ttft * self.margin.value)

    def prefill(self, prompt_tokens: int, beside: float = 0.0) -> float:
        return self.prefill_s((prompt_tokens, beside))

    def decode(self, beside: float = 0.0) -> float:
        return self.decode_s_per_token((beside,))

    def started(
        self,
        now: float,
        size: RequestSize,
        predicted: Prediction | None,
        target_s: float | None = None,
    ) -> InFlight:
        """``target_s``: the TTFT target it was let in under (it teaches the margin)."""
        record = InFlight(now, size.prompt_tokens, size.budget, predicted, target_s)
        self.in_flight.append(record)
        return record

    def first_token(self, record: InFlight, now: float) -> float | None:
        """Learn from the first token; the prediction's relative error, if there was one."""
        record.first_token_at = now
        measured, predicted = now - record.started_at, record.predicted
        if predicted is None:
            return None
        if predicted.wait_s == 0.0:  # it found a free slot: its TTFT was the prefill
            self.prefill_s.observe((record.prompt_tokens, predicted.beside), measured)
            if predicted.beside == 0.0:  # and the model idle: an unloaded TTFT
                self._unloaded.append(measured)
                if len(self._unloaded) >= UNLOADED_MIN:
                    self.unloaded_p95_s = float(np.quantile(self._unloaded, 0.95))
        if record.target_s is not None:
            self.margin.observe(met=measured <= record.target_s)
        return abs(predicted.ttft_s - measured) / max(measured, 1e-3)

    def finished(self, record: InFlight, now: float) -> None:
        if record in self.in_flight:
            self.in_flight.remove(record)
            self._finished_at.append(now)
        while self._finished_at and self._finished_at[0] < now - FINISHED_MEMORY_S:
            self._finished_at.popleft()
        tokens = record.completion_tokens
        if record.first_token_at is None or tokens is None:
            return  # failed or abandoned before it said how much it produced
        if tokens < record.budget:  # cut by the budget: says nothing of the natural length
            self.output_tokens.observe(tokens)
        if tokens > 1:
            beside = record.predicted.beside if record.predicted is not None else 0.0
            per_token = (now - record.first_token_at) / (tokens - 1)
            self.decode_s_per_token.observe((beside,), per_token)

    def _duration_s(self, prompt_tokens: int, budget: int, beside: float = 0.0) -> float:
        return self.prefill(prompt_tokens, beside) + self._decode_s(budget, beside)

    def _decode_s(self, budget: int, beside: float = 0.0) -> float:
        return min(budget, self.output_tokens.value) * self.decode(beside)

    def _remaining_s(self, record: InFlight, now: float, beside: float) -> float:
        """Until a running request ends, decoding beside ``beside`` others: at its natural
        length, or, once past that (a long answer), at its budget."""
        decoding_from = record.first_token_at
        if decoding_from is None:
            at_start = record.predicted.beside if record.predicted is not None else 0.0
            decoding_from = record.started_at + self.prefill(record.prompt_tokens, at_start)
        natural_end = decoding_from + self._decode_s(record.budget, beside)
        if now < natural_end:
            return natural_end - now
        budget_end = decoding_from + record.budget * self.decode(beside)
        return max(budget_end - now, self.decode(beside))

    def _wait_s(
        self, now: float, replicas: tuple[EngineStats, ...], polled_at: float
    ) -> tuple[float, float]:
        """(the wait for a slot, requests per replica beside it once it has one)."""
        if not replicas or any(r.max_running is None for r in replicas):
            # Batch size unknown: the engine takes it (as the queue rule says).
            return 0.0, sum(r.running for r in replicas) / max(len(replicas), 1)
        slots = sum(r.max_running or 0 for r in replicas)
        ours = sorted(self.in_flight, key=lambda r: r.started_at)
        engines_held = sum(r.running + r.waiting for r in replicas)
        ours_then = sum(r.started_at <= polled_at for r in ours)
        ours_then += sum(t > polled_at for t in self._finished_at)
        # Other routers' requests: the engines count them, this router does not know them.
        others = max(engines_held - ours_then, 0)
        # Those running decode beside the others in their replica's batch.
        running_beside = max(min(len(ours) + others, slots) / len(replicas) - 1, 0.0)
        mean = self._duration_s(64, 1 << 30, running_beside)
        ahead = [(self._remaining_s(r, now, running_beside),
                  self._duration_s(r.prompt_tokens, r.budget, running_beside))
                 for r in ours] + [(mean / 2, mean)] * others  # fmt: skip
        free_at = [remaining for remaining, _ in ahead[:slots]]
        free_at += [0.0] * (slots - len(free_at))
        heapq.heapify(free_at)
        for _, duration in ahead[slots:]:  # queued before this one, in arrival order
            heapq.heappush(free_at, heapq.heappop(free_at) + duration)
        return free_at[0], min(len(ahead), slots - 1) / len(replicas)
