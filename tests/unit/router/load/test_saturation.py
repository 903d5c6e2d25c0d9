"""SaturationView: stale, back-pressure, queue (engines + Ray's queue), KV cache."""

import asyncio

import pytest

from router.load.poller import LoadPoller
from router.load.saturation import SaturationView
from serving.engine import EngineStats
from tests.builders import smol_only_config

SMOL = "smollm2-135m"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Replicas:
    """What the model's replicas report (a LoadSource)."""

    def __init__(self, *stats: EngineStats) -> None:
        self.stats = list(stats)
        self.fail = False

    async def replica_stats(self) -> list[EngineStats]:
        if self.fail:
            raise ConnectionError("replica gone")
        return self.stats


def stats(running: int = 0, waiting: int = 0, kv: float | None = None) -> EngineStats:
    return EngineStats(timestamp=0.0, running=running, waiting=waiting, kv_cache_usage=kv)


def view(replicas: Replicas, clock: Clock) -> tuple[SaturationView, LoadPoller]:
    # Default fleet rules: 5 waiting per replica, KV 0.8, stale after 1 s;
    # SmolLM2 accepts max_ongoing_requests=8 per replica before Ray queues.
    poller = LoadPoller({SMOL: replicas}, interval_s=0.25, clock=clock)
    model = smol_only_config().models[0]
    return SaturationView(poller, {SMOL: model}, clock), poller


def poll(poller: LoadPoller) -> None:
    asyncio.run(poller.poll_once())


def test_no_stats_and_stale_stats_count_as_saturated() -> None:
    clock = Clock()
    saturation, poller = view(Replicas(stats()), clock)
    assert saturation.state(SMOL).reason == "stale"
    poll(poller)
    assert not saturation.state(SMOL).saturated
    clock.now += 1.01
    assert saturation.state(SMOL).reason == "stale"


def test_a_failed_poll_keeps_the_old_snapshot_which_then_goes_stale() -> None:
    clock = Clock()
    replicas = Replicas(stats())
    saturation, poller = view(replicas, clock)
    poll(poller)
    replicas.fail = True
    clock.now += 0.5
    poll(poller)
    assert not saturation.state(SMOL).saturated
    clock.now += 0.6
    assert saturation.state(SMOL).reason == "stale"


@pytest.mark.parametrize(
    ("replicas", "reason"),
    [
        (Replicas(stats(8, 4)), None),
        (Replicas(stats(8, 5)), "queue"),
        (Replicas(stats(8, 6), stats(8, 3)), None),  # 9 waiting over 2 replicas: 4.5 each
        (Replicas(stats(2, 0, kv=0.85)), "kv_cache"),
        (Replicas(stats(2, 0, kv=0.79)), None),
    ],
)
def test_engine_load_against_the_thresholds(replicas: Replicas, reason: str | None) -> None:
    clock = Clock()
    saturation, poller = view(replicas, clock)
    poll(poller)
    assert saturation.state(SMOL).reason == reason


def test_requests_queued_in_front_of_the_replicas_count() -> None:
    clock = Clock()
    saturation, poller = view(Replicas(stats(8, 0)), clock)
    poll(poller)
    for _ in range(12):  # 8 accepted by the replica, 4 wait in Ray's queue
        saturation.started(SMOL)
    assert not saturation.state(SMOL).saturated
    saturation.started(SMOL)  # the 5th in the queue
    assert saturation.state(SMOL).reason == "queue"
    saturation.finished(SMOL)
    assert not saturation.state(SMOL).saturated


def test_backpressure_saturates_for_the_hold_time() -> None:
    clock = Clock()
    saturation, poller = view(Replicas(stats()), clock)
    poll(poller)
    saturation.refused(SMOL)
    assert saturation.state(SMOL).reason == "backpressure"
    clock.now += 0.5
    poll(poller)
    assert not saturation.state(SMOL).saturated
