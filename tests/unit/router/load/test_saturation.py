"""SaturationView: stale, back-pressure, queue (engines + Ray's queue), KV cache."""

import asyncio

import pytest

from router.load.poller import LoadPoller
from router.load.saturation import SaturationView
from serving.engine import EngineStats, GenerationChunk, Usage
from tests.builders import smol_only_config
from tests.clock import FakeClock

SMOL = "smollm2-135m"


class Replicas:
    """What the model's replicas report (a LoadSource)."""

    def __init__(self, *stats: EngineStats) -> None:
        self.stats = list(stats)
        self.fail = False

    async def replica_stats(self) -> list[EngineStats]:
        if self.fail:
            raise ConnectionError("replica gone")
        return self.stats


def stats(
    running: int = 0, waiting: int = 0, kv: float | None = None, max_running: int | None = None
) -> EngineStats:
    return EngineStats(0.0, running, waiting, kv_cache_usage=kv, max_running=max_running)


def view(
    replicas: Replicas, clock: FakeClock, max_waiting: float = 5
) -> tuple[SaturationView, LoadPoller]:
    # Default rules: 5 waiting per replica, KV 0.8, stale after 1 s;
    # SmolLM2 accepts max_ongoing_requests=16 per replica before Ray queues.
    poller = LoadPoller({SMOL: replicas}, interval_s=0.25, clock=clock)
    saturation = {"max_waiting_per_replica": max_waiting}
    model = smol_only_config(saturation=saturation).models[0]
    return SaturationView(poller, {SMOL: model}, clock), poller


def poll(poller: LoadPoller) -> None:
    asyncio.run(poller.poll_once())


def test_no_stats_and_stale_stats_count_as_saturated() -> None:
    clock = FakeClock()
    saturation, poller = view(Replicas(stats()), clock)
    assert saturation.state(SMOL).reason == "stale"
    poll(poller)
    assert not saturation.state(SMOL).saturated
    clock.now += 1.01
    assert saturation.state(SMOL).reason == "stale"


def test_a_failed_poll_keeps_the_old_snapshot_which_then_goes_stale() -> None:
    clock = FakeClock()
    replicas = Replicas(stats())
    saturation, poller = view(replicas, clock)
    poll(poller)
    replicas.fail = True
    clock.now += 0.5
    poll(poller)
    assert not saturation.state(SMOL).saturated
    clock.now += 0.6
    assert saturation.state(SMOL).reason == "stale"


def test_old_stats_are_not_stale_while_the_models_streams_flow() -> None:
    """A replica with a full batch can answer the stats poll late; a chunk from it within
    the staleness limit says it is alive, and the last snapshot plus this router's
    requests in flight since then judge it."""
    clock = FakeClock()
    replicas = Replicas(stats(running=1, max_running=4))
    saturation, poller = view(replicas, clock, max_waiting=0)
    poll(poller)
    replicas.fail = True  # every later poll fails (or times out)
    clock.now += 2.0
    assert saturation.state(SMOL).reason == "stale"
    record = saturation.started(SMOL)
    saturation.saw(SMOL, record, GenerationChunk(usage=Usage(3, 2)))
    assert record.completion_tokens == 2  # the record still learns from its chunks
    clock.now += 0.9
    assert not saturation.state(SMOL).saturated  # a slot free, as far as it knows
    for _ in range(3):
        saturation.started(SMOL)
    assert saturation.state(SMOL).reason == "queue"  # its own requests fill the batch
    clock.now += 0.2  # and no chunk since: nothing says it is alive
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
    clock = FakeClock()
    saturation, poller = view(replicas, clock)
    poll(poller)
    assert saturation.state(SMOL).reason == reason


def test_requests_sent_since_the_last_poll_count_beyond_the_free_batch_slots() -> None:
    clock = FakeClock()
    saturation, poller = view(Replicas(stats(6, 0, max_running=8)), clock)
    poll(poller)
    for _ in range(6 + 2):  # the 6 it reports running, and 2 that fill its free slots
        saturation.started(SMOL)
    assert saturation.state(SMOL).queued_per_replica == 0
    last = [saturation.started(SMOL) for _ in range(5)][-1]  # 5 more wait: the limit
    assert saturation.state(SMOL).reason == "queue"
    saturation.finished(SMOL, last)
    assert not saturation.state(SMOL).saturated


def test_a_zero_queue_limit_saturates_once_no_batch_slot_is_free() -> None:
    clock = FakeClock()
    saturation, poller = view(Replicas(stats(6, 0, max_running=8)), clock, max_waiting=0)
    poll(poller)
    for _ in range(6 + 1):
        saturation.started(SMOL)
    assert not saturation.state(SMOL).saturated  # one slot left: the next request runs
    last = saturation.started(SMOL)
    assert saturation.state(SMOL).reason == "queue"  # the next one would wait
    saturation.finished(SMOL, last)
    assert not saturation.state(SMOL).saturated


def test_a_zero_queue_limit_without_a_batch_size_counts_only_ray_capacity() -> None:
    clock = FakeClock()
    saturation, poller = view(Replicas(stats(8, 0)), clock, max_waiting=0)
    poll(poller)
    for _ in range(16):  # max_ongoing_requests accepted by the replica
        saturation.started(SMOL)
    assert not saturation.state(SMOL).saturated
    saturation.started(SMOL)
    assert saturation.state(SMOL).reason == "queue"


def test_without_a_batch_size_requests_beyond_ray_capacity_count() -> None:
    clock = FakeClock()
    saturation, poller = view(Replicas(stats(8, 0)), clock)
    poll(poller)
    for _ in range(16 + 4):  # max_ongoing_requests 16 accepted, 4 in Ray's queue
        saturation.started(SMOL)
    assert not saturation.state(SMOL).saturated
    saturation.started(SMOL)
    assert saturation.state(SMOL).reason == "queue"


def test_backpressure_saturates_for_the_hold_time() -> None:
    clock = FakeClock()
    saturation, poller = view(Replicas(stats()), clock)
    poll(poller)
    saturation.refused(SMOL)
    assert saturation.state(SMOL).reason == "backpressure"
    clock.now += 0.5
    poll(poller)
    assert not saturation.state(SMOL).saturated


def ttft_view(replicas: Replicas, clock: FakeClock, target_s: float) -> SaturationView:
    poller = LoadPoller({SMOL: replicas}, interval_s=0.25, clock=clock)
    saturation = {"ttft_target_s": target_s, "max_waiting_per_replica": 0}
    model = smol_only_config(saturation=saturation).models[0]
    poll(poller)
    return SaturationView(poller, {SMOL: model}, clock)


def test_with_a_ttft_target_a_free_slot_stays_local_and_a_long_wait_overflows() -> None:
    """Untrained priors: prefill 0.3 s, a typical request 0.3 + 128 x 0.1 s."""
    clock = FakeClock()
    replicas = Replicas(stats(1, 0, max_running=8))
    saturation = ttft_view(replicas, clock, target_s=1.0)
    state = saturation.state(SMOL)
    assert not state.saturated and state.predicted is not None
    assert state.predicted.ttft_s == pytest.approx(0.3)
    replicas.stats = [stats(8, 0, max_running=8)]  # full: the first slot frees in ~6.5 s
    saturation = ttft_view(replicas, clock, target_s=1.0)
    state = saturation.state(SMOL)
    assert state.reason == "ttft" and state.predicted is not None
    assert state.predicted.wait_s == pytest.approx((0.3 + 12.8) / 2)


def test_with_a_generous_ttft_target_a_long_queue_stays_local() -> None:
    """The queue rule (0 waiting) would overflow here; the predicted TTFT is in target."""
    clock = FakeClock()
    saturation = ttft_view(Replicas(stats(8, 5, max_running=8)), clock, target_s=60.0)
    state = saturation.state(SMOL)
    assert not state.saturated and state.predicted is not None
    # The 5 waiting take 5 of the 8 slots as they free (~6.55 s); this one takes a 6th.
    assert state.predicted.wait_s == pytest.approx((0.3 + 12.8) / 2)
    assert saturation.state(SMOL, headroom=0.1).reason == "ttft"  # sheddable: stricter


def test_a_callers_ttft_target_replaces_the_models_rule() -> None:
    saturation, poller = view(Replicas(stats(8, 0, max_running=8)), FakeClock())
    poll(poller)
    assert not saturation.state(SMOL).saturated  # the queue rule: room for 5 waiting
    # A full batch whose first slot frees in ~6.5 s: a key that wants 1 s overflows, one
    # that accepts 10 s stays.
    assert saturation.state(SMOL, ttft_target_s=1.0).reason == "ttft"
    assert not saturation.state(SMOL, ttft_target_s=10.0).saturated


def test_an_idle_model_takes_the_request_even_past_the_target() -> None:
    """Prior prefill 0.3 s > a 0.1 s target: with one running it overflows; idle, it stays
    (how rates that went stale while everything overflowed are measured again)."""
    clock = FakeClock()
    replicas = Replicas(stats(0, 0, max_running=8))
    assert not ttft_view(replicas, clock, target_s=0.1).state(SMOL).saturated
    replicas.stats = [stats(1, 0, max_running=8)]
    assert ttft_view(replicas, clock, target_s=0.1).state(SMOL).reason == "ttft"


def test_an_auto_target_is_twice_the_unloaded_p95_once_measured() -> None:
    """Until 20 requests have found the model idle it follows the queue rule; then its
    target is twice the p95 of their TTFTs (a full batch that frees in ~6.5 s overflows)."""
    clock = FakeClock()
    replicas = Replicas(stats(0, 0, max_running=8))
    poller = LoadPoller({SMOL: replicas}, interval_s=0.25, clock=clock)
    rules = {"ttft_target_s": "auto", "max_waiting_per_replica": 0}
    saturation = SaturationView(poller, {SMOL: smol_only_config(saturation=rules).models[0]}, clock)
    poll(poller)
    for i in range(20):
        poll(poller)
        assert saturation.ttft_target_s(SMOL) is None
        let_in = saturation.state(SMOL)
        assert let_in.target_s is None and not let_in.saturated
        record = saturation.started(SMOL, let_in=let_in)
        clock.now += 0.1 + 0.01 * i  # unloaded TTFTs of 0.10 ... 0.29 s
        saturation.first_token(SMOL, record)
        saturation.finished(SMOL, record)
    assert saturation.ttft_target_s(SMOL) == pytest.approx(2 * (0.1 + 0.01 * 18.05))
    replicas.stats = [stats(8, 0, max_running=8)]
    poll(poller)
    assert saturation.state(SMOL).reason == "ttft"


def test_a_busy_requests_ttft_does_not_count_as_unloaded() -> None:
    clock = FakeClock()
    replicas = Replicas(stats(1, 0, max_running=8))  # one decoding beside it
    poller = LoadPoller({SMOL: replicas}, interval_s=0.25, clock=clock)
    rules = {"ttft_target_s": "auto"}
    saturation = SaturationView(poller, {SMOL: smol_only_config(saturation=rules).models[0]}, clock)
    poll(poller)
    for _ in range(30):
        poll(poller)
        record = saturation.started(SMOL, let_in=saturation.state(SMOL))
        clock.now += 0.2
        saturation.first_token(SMOL, record)
        saturation.finished(SMOL, record)
    assert saturation.ttft_target_s(SMOL) is None
