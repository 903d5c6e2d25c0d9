"""SaturationView: is a local model too busy to take one more request right now?

Inputs: the polled per-replica engine stats (running, waiting, KV-cache use), this
router's own requests in flight to the model, and recent back-pressure refusals. Formula,
per model, first match wins:
- no stats yet, or stats older than ``stale_after_s`` while none of this router's
  streams from the model gave a chunk within ``stale_after_s`` either -> ``stale``
  (a replica busy with a full batch can answer a stats poll late; while its streams
  flow it is alive, and the last snapshot plus this router's own requests in flight
  since then still say how loaded it is)
- a full-queue refusal in the last ``backpressure_hold_s``         -> ``backpressure``
- with a TTFT target (the model's ``ttft_target_s``, or the caller's key's in its place;
  ``auto``: ``AUTO_TARGET_FACTOR`` times the p95 TTFT measured while the model was idle,
  the issue's "twice the unloaded p95", once ``router.load.ttft`` has measured it):
  the request's expected time to first token there (``router.load.ttft``), times the
  model's margin for ``ttft_quantile`` (``router.load.ttft_margin``), exceeds it, and
  the model is not idle                                             -> ``ttft``
- without: one more request would make the queue per replica exceed
  ``max_waiting_per_replica`` (0: saturated as soon as no batch slot is free) -> ``queue``
- any replica's KV-cache use >= ``max_kv_cache_usage``             -> ``kv_cache``
"Queued" is the engines' waiting count plus what this router sent that no engine reports
yet (the stats are up to a poll interval old): its in-flight requests beyond what the
engines report running or waiting, less the free batch slots they will take, and at
least those beyond what the replicas accept (``max_ongoing_requests`` each), which wait
in Ray Serve's queue.
Config: ``models[].saturation``. Trade-off: one router replica sees only its own
in-flight requests; the engines' counts cover everyone's.
"""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from router.load.poller import LoadPoller
from router.load.ttft import NOMINAL, InFlight, Prediction, RequestSize, TtftModel
from router.model_config import LocalModelConfig
from serving.engine import EngineStats, GenerationChunk

MAX_ERROR_SAMPLES = 1000  # kept between two metric reports
AUTO_TARGET_FACTOR = 2.0  # ``ttft_target_s: auto``: this times the unloaded p95


@dataclass(frozen=True)
class Saturation:
    saturated: bool
    reason: str | None = None  # stale, backpressure, ttft, queue, kv_cache
    queued_per_replica: float = 0.0
    predicted: Prediction | None = None  # where the load was fresh enough to predict
    target_s: float | None = None  # the TTFT target it was judged by (None: the queue rule)


FREE = Saturation(saturated=False)


class SaturationView:
    def __init__(
        self,
        poller: LoadPoller,
        models: Mapping[str, LocalModelConfig],
        clock: Callable[[], float],
    ) -> None:
        self._poller, self._models, self._clock = poller, dict(models), clock
        self._refused_at: dict[str, float] = {}
        self._heard_at: dict[str, float] = {}  # the latest chunk of any stream, per model
        self._ttft = {
            model_id: TtftModel(model.saturation.ttft_quantile)
            for model_id, model in self._models.items()
        }
        self._errors: dict[str, list[float]] = {model_id: [] for model_id in self._models}
        self._lock = threading.Lock()

    def state(
        self,
        model_id: str,
        headroom: float = 1.0,
        size: RequestSize = NOMINAL,
        ttft_target_s: float | None = None,
    ) -> Saturation:
        """``headroom`` scales the queue limit and the TTFT target (sheddable traffic stops
        at half of them); ``size``: the request's, for its predicted TTFT;
        ``ttft_target_s``: the caller's own target, in place of the model's rule."""
        model, load = self._models[model_id], self._poller.load(model_id)
        rules = model.saturation
        now = self._clock()
        if load is None or not load.replicas or self._stale(model_id, load.polled_at, now):
            return Saturation(True, "stale")
        if now - self._refused_at.get(model_id, -float("inf")) < rules.backpressure_hold_s:
            return Saturation(True, "backpressure")
        queued, slot_free = self._queued(model_id, load.replicas)
        per_replica = queued / len(load.replicas)
        with self._lock:
            predicted = self._ttft[model_id].predict(now, load.replicas, load.polled_at, size)
        target_s = ttft_target_s if ttft_target_s is not None else self.ttft_target_s(model_id)
        # An idle model always takes the request: nothing is faster, and it is how rates
        # that went stale under load (all overflowed, so none taught) are measured again.
        idle = predicted.wait_s == 0.0 and predicted.beside == 0.0
        if target_s is not None:
            if predicted.likely_max_s > target_s * headroom and not idle:
                return Saturation(True, "ttft", per_replica, predicted, target_s)
        else:
            # The request being placed waits too unless a batch slot is free for it.
            would_wait = (queued + (not slot_free)) / len(load.replicas)
            if would_wait > rules.max_waiting_per_replica * headroom:
                return Saturation(True, "queue", per_replica, predicted)
        kv = [r.kv_cache_usage for r in load.replicas if r.kv_cache_usage is not None]
        if kv and max(kv) >= rules.max_kv_cache_usage:
            return Saturation(True, "kv_cache", per_replica, predicted, target_s)
        return Saturation(False, None, per_replica, predicted, target_s)

    def _stale(self, model_id: str, polled_at: float, now: float) -> bool:
        limit_s = self._models[model_id].saturation.stale_after_s
        heard_at = self._heard_at.get(model_id, -float("inf"))
        return now - polled_at > limit_s and now - heard_at > limit_s

    def _queued(self, model_id: str, replicas: tuple[EngineStats, ...]) -> tuple[int, bool]:
        """(requests queued, whether a batch slot is free for one more)."""
        in_flight = len(self._ttft[model_id].in_flight)
        waiting = sum(r.waiting for r in replicas)
        unseen = in_flight - sum(r.running for r in replicas) - waiting
        if any(r.max_running is None for r in replicas):
            free = max(unseen, 0) + 1  # batch size unknown: assume the engine takes more
        else:
            free = sum(r.max_running or 0 for r in replicas) - sum(r.running for r in replicas)
        accepted = len(replicas) * self._models[model_id].deployment.max_ongoing_requests
        queued = waiting + max(0, unseen - free, in_flight - accepted)
        return queued, queued == 0 and unseen < free

    @property
    def model_ids(self) -> list[str]:
        return list(self._models)

    def in_flight(self, model_id: str) -> int:
        return len(self._ttft[model_id].in_flight)

    def refused(self, model_id: str) -> None:
        """Ray Serve's bounded queue refused a request: saturated right now."""
        self._refused_at[model_id] = self._clock()

    def started(
        self, model_id: str, size: RequestSize = NOMINAL, let_in: Saturation = FREE
    ) -> InFlight:
        """``let_in``: the state it was sent in; if it was judged by a TTFT target and
        found free, its TTFT teaches the model's margin."""
        target_s = None if let_in.saturated else let_in.target_s
        with self._lock:
            return self._ttft[model_id].started(self._clock(), size, let_in.predicted, target_s)

    def sent_elsewhere(self, model_id: str) -> None:
        """A request its TTFT rule passed over was served by another target: it counts
        toward the model's margin as a request that met the target."""
        with self._lock:
            self._ttft[model_id].margin.observe(met=True)

    def saw(self, model_id: str, record: InFlight, chunk: GenerationChunk) -> None:
        """A chunk of one of this router's streams from the model: it is alive."""
        record.saw(chunk)
        self._heard_at[model_id] = self._clock()

    def first_token(self, model_id: str, record: InFlight) -> None:
        with self._lock:
            error = self._ttft[model_id].first_token(record, self._clock())
            if error is not None and len(self._errors[model_id]) < MAX_ERROR_SAMPLES:
                self._errors[model_id].append(error)

    def finished(self, model_id: str, record: InFlight) -> None:
        # Also called by a stream's finalizer, which may run on another thread.
        with self._lock:
            self._ttft[model_id].finished(record, self._clock())

    def prediction_errors(self, model_id: str) -> list[float]:
        """Relative TTFT prediction errors since the last call (for the metrics)."""
        with self._lock:
            errors, self._errors[model_id] = self._errors[model_id], []
            return errors

    def ttft_target_s(self, model_id: str) -> float | None:
        """The model's own target now (None: it follows the queue rule)."""
        target = self._models[model_id].saturation.ttft_target_s
        if target != "auto":
            return target
        unloaded_p95_s = self._ttft[model_id].unloaded_p95_s
        return None if unloaded_p95_s is None else AUTO_TARGET_FACTOR * unloaded_p95_s

    def rates(self, model_id: str) -> TtftModel:
        return self._ttft[model_id]
