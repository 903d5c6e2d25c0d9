"""Engine load gauges, exported by each model replica itself (Ray tags every series with
its deployment and replica, so a scrape sees each replica once):
``switchboard_engine_running``, ``switchboard_engine_waiting``,
``switchboard_engine_kv_cache_usage`` (where the engine has a KV-cache pool),
``switchboard_engine_batch_slots`` (how many it runs at once, where fixed) and the counter
``switchboard_engine_preemptions`` (where the engine preempts), by ``model``.
"""

from ray.serve import metrics

from serving.engine import EngineStats


class EngineLoadGauges:
    def __init__(self, model_id: str) -> None:
        self._tags = {"model": model_id}
        tags = ("model",)
        self._running = metrics.Gauge(
            "switchboard_engine_running", "Requests the engine is decoding", tag_keys=tags
        )
        self._waiting = metrics.Gauge(
            "switchboard_engine_waiting", "Requests waiting inside the engine", tag_keys=tags
        )
        self._kv_cache = metrics.Gauge(
            "switchboard_engine_kv_cache_usage", "KV-cache use, 0..1", tag_keys=tags
        )
        self._slots = metrics.Gauge(
            "switchboard_engine_batch_slots", "Requests it decodes at once", tag_keys=tags
        )
        self._preemptions = metrics.Counter(
            "switchboard_engine_preemptions",
            "Requests preempted to free KV cache (they recompute when resumed)",
            tag_keys=tags,
        )
        self._preemptions_counted = 0

    def report(self, stats: EngineStats) -> None:
        self._running.set(stats.running, self._tags)
        self._waiting.set(stats.waiting, self._tags)
        if stats.kv_cache_usage is not None:
            self._kv_cache.set(stats.kv_cache_usage, self._tags)
        if stats.max_running is not None:
            self._slots.set(stats.max_running, self._tags)
        # The engine counts since it started; Ray's counter takes increments (never 0).
        if stats.preemptions is not None and stats.preemptions > self._preemptions_counted:
            self._preemptions.inc(stats.preemptions - self._preemptions_counted, self._tags)
            self._preemptions_counted = stats.preemptions
