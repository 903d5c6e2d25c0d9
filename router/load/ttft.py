"""Predicted time to first token (TTFT) of one more request on a local model.

TTFT = the wait for a batch slot + the prefill. The wait replays the model's batch: the
requests in flight hold the slots until their expected ends, those queued before this one
take the earliest free slots in turn, and this one takes the next. Durations come from
rates learned online from the requests this router served, exponentially weighted so they
follow load: prefill seconds as a line in prompt tokens (learned from requests that found
a free slot, so a wrong wait never teaches the prefill), decode seconds per output token,
and the natural answer length: a request ends at its budget or at that length, whichever
comes first. Only answers that stopped before their budget teach the length, so a model
that always fills its budget is expected to fill it.

The engines' counts cover every router's requests; this router knows its own in detail.
Requests it does not know (other routers') count as half done if running, whole if
waiting: those are what the engines held when polled beyond this router's requests then
(started before the poll, or finished since), so a count that lags a finished request is
no phantom. Until it has seen a few requests a model uses conservative priors.
"""

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from serving.engine import EngineStats, GenerationChunk

FINISHED_MEMORY_S = 10.0  # how long finished requests are remembered, against old polls
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


class WeightedLine:
    """y ~ intercept + slope * x, fitted by exponentially weighted least squares."""

    def __init__(self, prior_intercept: float) -> None:
        self._x, self._y = Ewma(0.0), Ewma(prior_intercept)
        self._xx, self._xy = Ewma(0.0), Ewma(0.0)

    def observe(self, x: float, y: float) -> None:
        for mean, sample in ((self._x, x), (self._y, y), (self._xx, x * x), (self._xy, x * y)):
            mean.observe(sample)

    def __call__(self, x: float) -> float:
        variance = self._xx.value - self._x.value**2
        if self._x.samples < 3 or variance <= 1e-9:  # one prompt length seen: the mean
            return max(self._y.value, 0.0)
        slope = max((self._xy.value - self._x.value * self._y.value) / variance, 0.0)
        return max(self._y.value + slope * (x - self._x.value), 0.0)


@dataclass(eq=False)  # each request is itself: two alike are still two
class InFlight:
    """One request this router sent to the model, until its stream closes."""

    started_at: float
    prompt_tokens: int
    budget: int  # the most tokens it may generate
    predicted: "Prediction | None"  # None: sent without one (past the model's limits)
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
    ttft_s: float


class TtftModel:
    """One local model: its learned rates and this router's requests in flight to it."""

    def __init__(self) -> None:
        self.prefill_s = WeightedLine(PRIOR_PREFILL_S)
        self.decode_s_per_token = Ewma(PRIOR_DECODE_S_PER_TOKEN)
        self.output_tokens = Ewma(PRIOR_OUTPUT_TOKENS)  # of answers that stopped by themselves
        self.in_flight: list[InFlight] = []
        self._finished_at: deque[float] = deque()  # this router's recent finishes, in order

    def predict(
        self, now: float, replicas: Iterable[EngineStats], polled_at: float, size: RequestSize
    ) -> Prediction:
        """``polled_at``: when ``replicas`` were read, on the same clock as ``now``."""
        wait = self._wait_s(now, tuple(replicas), polled_at)
        return Prediction(wait, wait + self.prefill_s(size.prompt_tokens))

    def started(self, now: float, size: RequestSize, predicted: Prediction | None) -> InFlight:
        record = InFlight(now, size.prompt_tokens, size.budget, predicted)
        self.in_flight.append(record)
        return record

    def first_token(self, record: InFlight, now: float) -> float | None:
        """Learn from the first token; the prediction's relative error, if there was one."""
        record.first_token_at = now
        measured, predicted = now - record.started_at, record.predicted
        if predicted is None:
            return None
        if predicted.wait_s == 0.0:  # it found a free slot: its TTFT was the prefill
            self.prefill_s.observe(record.prompt_tokens, measured)
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
            self.decode_s_per_token.observe((now - record.first_token_at) / (tokens - 1))

    def _duration_s(self, prompt_tokens: int, budget: int) -> float:
        return self.prefill_s(prompt_tokens) + self._decode_s(budget)

    def _decode_s(self, budget: int) -> float:
        return min(budget, self.output_tokens.value) * self.decode_s_per_token.value

    def _remaining_s(self, record: InFlight, now: float) -> float:
        """Until a running request ends: at its natural length, or, once past that (a long
        answer), at its budget."""
        decoding_from = record.first_token_at
        if decoding_from is None:
            decoding_from = record.started_at + self.prefill_s(record.prompt_tokens)
        natural_end = decoding_from + self._decode_s(record.budget)
        if now < natural_end:
            return natural_end - now
        budget_end = decoding_from + record.budget * self.decode_s_per_token.value
        return max(budget_end - now, self.decode_s_per_token.value)

    def _wait_s(self, now: float, replicas: tuple[EngineStats, ...], polled_at: float) -> float:
        if not replicas or any(r.max_running is None for r in replicas):
            return 0.0  # batch size unknown: the engine takes it (as the queue rule says)
        slots = sum(r.max_running or 0 for r in replicas)
        ours = sorted(self.in_flight, key=lambda r: r.started_at)
        engines_held = sum(r.running + r.waiting for r in replicas)
        ours_then = sum(r.started_at <= polled_at for r in ours)
        ours_then += sum(t > polled_at for t in self._finished_at)
        mean = self._duration_s(64, 1 << 30)
        # Other routers' requests: the engines count them, this router does not know them.
        others = max(engines_held - ours_then, 0)
        ahead = [(self._remaining_s(r, now), self._duration_s(r.prompt_tokens, r.budget))
                 for r in ours] + [(mean / 2, mean)] * others  # fmt: skip
        free_at = [remaining for remaining, _ in ahead[:slots]]
        free_at += [0.0] * (slots - len(free_at))
        heapq.heapify(free_at)
        for _, duration in ahead[slots:]:  # queued before this one, in arrival order
            heapq.heappush(free_at, heapq.heappop(free_at) + duration)
        return free_at[0]
