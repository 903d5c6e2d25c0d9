"""LoadPoller: each model stamped on its own answer, failures keep the old snapshot,
and a poller task that dies is restarted."""

import asyncio

from router.load.poller import LoadPoller
from serving.engine import EngineStats
from tests.clock import FakeClock

STATS = EngineStats(timestamp=0.0, running=1, waiting=0)


class Source:
    def __init__(self, delay_s: float = 0.0, fails: bool = False) -> None:
        self.delay_s, self.fails, self.calls = delay_s, fails, 0

    async def replica_stats(self) -> list[EngineStats]:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.fails:
            raise ConnectionError("replica gone")
        return [STATS]


async def test_a_slow_model_does_not_age_the_others() -> None:
    clock = FakeClock()
    poller = LoadPoller({"fast": Source(), "slow": Source(delay_s=0.2)}, 0.25, clock)

    async def advance() -> None:
        await asyncio.sleep(0.1)
        clock.now += 5

    await asyncio.gather(poller.poll_once(), advance())
    fast, slow = poller.load("fast"), poller.load("slow")
    assert fast is not None and slow is not None
    assert fast.polled_at == 1000.0 and slow.polled_at == 1005.0


async def test_a_failed_poll_keeps_the_previous_snapshot() -> None:
    source = Source()
    poller = LoadPoller({"m": source}, 0.25, FakeClock())
    await poller.poll_once()
    source.fails = True
    await poller.poll_once()
    assert poller.load("m") is not None and source.calls == 2


async def test_a_dead_poller_task_is_restarted() -> None:
    source = Source()
    poller = LoadPoller({"m": source}, 0.01, FakeClock())
    real_poll = poller.poll_once
    crashed = False

    async def crash_once() -> None:
        nonlocal crashed
        if not crashed:
            crashed = True
            raise RuntimeError("bug")
        await real_poll()

    poller.poll_once = crash_once  # type: ignore[method-assign]
    poller.start()
    for _ in range(100):  # bounded: 1 s
        if poller.load("m") is not None:
            break
        await asyncio.sleep(0.01)
    await poller.stop()
    assert crashed and poller.load("m") is not None


async def test_each_model_waits_as_long_as_its_snapshot_stays_fresh() -> None:
    # A 0.3 s answer is in time where the staleness limit is 0.5 s, not where it is 0.1 s.
    sources = {"patient": Source(delay_s=0.3), "strict": Source(delay_s=0.3)}
    poller = LoadPoller(sources, 0.25, FakeClock(), {"patient": 0.5, "strict": 0.1})
    await poller.poll_once()
    assert poller.load("patient") is not None and poller.load("strict") is None
