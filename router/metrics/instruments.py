"""Where metrics go: Ray's exporter in Serve replicas, or a ``prometheus_client``
registry in a process that serves its own exposition.

Ray does not export ``prometheus_client`` registries living inside Serve replicas; its
own ``ray.serve.metrics`` are exported on every node's metrics port, tagged with the
deployment and replica, so a scrape sees each replica once (DESIGN §10). Both backends
take the same calls: ``inc``/``observe``/``set`` with a tags mapping.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, cast

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram

if TYPE_CHECKING:
    from ray.serve import metrics as ray_metrics


class Counter(Protocol):
    def inc(self, value: float, tags: dict[str, str]) -> None: ...


class Histogram(Protocol):
    def observe(self, value: float, tags: dict[str, str]) -> None: ...


class Gauge(Protocol):
    def set(self, value: float, tags: dict[str, str]) -> None: ...


class Instruments(Protocol):
    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Counter: ...

    def histogram(
        self, name: str, description: str, tag_keys: Sequence[str], buckets: Sequence[float]
    ) -> Histogram: ...

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Gauge: ...


def _ray_keys(tag_keys: Sequence[str]) -> tuple[str]:
    # Ray annotates tag_keys as ``Tuple[str]`` but takes any number of them.
    return cast(tuple[str], tuple(tag_keys))


class _RayCounter:
    """Ray's ``Counter.inc`` raises on 0, which prometheus_client allows: a served answer
    that cost nothing (no usage sent, a free model) must not fail on its metrics."""

    def __init__(self, metric: "ray_metrics.Counter") -> None:
        self._metric = metric

    def inc(self, value: float, tags: dict[str, str]) -> None:
        if value > 0:
            self._metric.inc(value, tags)


class RayInstruments:
    """``ray.serve.metrics``: exported as ``ray_<name>`` with replica tags added."""

    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Counter:
        from ray.serve import metrics  # imported here: the in-process backend needs no Ray

        return _RayCounter(metrics.Counter(name, description, tag_keys=_ray_keys(tag_keys)))

    def histogram(
        self, name: str, description: str, tag_keys: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        from ray.serve import metrics

        return metrics.Histogram(name, description, list(buckets), tag_keys=_ray_keys(tag_keys))

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Gauge:
        from ray.serve import metrics

        return metrics.Gauge(name, description, tag_keys=_ray_keys(tag_keys))


class _PromCounter:
    def __init__(self, metric: PromCounter) -> None:
        self._metric = metric

    def inc(self, value: float, tags: dict[str, str]) -> None:
        (self._metric.labels(**tags) if tags else self._metric).inc(value)


class _PromHistogram:
    def __init__(self, metric: PromHistogram) -> None:
        self._metric = metric

    def observe(self, value: float, tags: dict[str, str]) -> None:
        (self._metric.labels(**tags) if tags else self._metric).observe(value)


class _PromGauge:
    def __init__(self, metric: PromGauge) -> None:
        self._metric = metric

    def set(self, value: float, tags: dict[str, str]) -> None:
        (self._metric.labels(**tags) if tags else self._metric).set(value)


class PrometheusInstruments:
    """A ``prometheus_client`` registry (the in-process server used by tests)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Counter:
        return _PromCounter(PromCounter(name, description, tag_keys, registry=self.registry))

    def histogram(
        self, name: str, description: str, tag_keys: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        metric = PromHistogram(name, description, tag_keys, registry=self.registry, buckets=buckets)
        return _PromHistogram(metric)

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Gauge:
        return _PromGauge(PromGauge(name, description, tag_keys, registry=self.registry))
