"""Dispatcher: an external provider's breaker hears of every failure, including one after
the first chunk (the answer is already streaming, so there is no failover, but the next
requests must not keep going to a provider that breaks mid-answer)."""

from collections.abc import AsyncGenerator

import pytest

from router.dispatcher import Dispatcher
from router.errors import ServiceUnavailable
from router.load.circuit_breaker import CircuitBreaker
from router.load.poller import LoadPoller
from router.load.saturation import SaturationView
from router.routing.decision import Decision, RankedModel
from serving.config import CircuitBreakerSettings
from serving.engine import (
    ChatPrompt,
    ChoiceDelta,
    EngineStats,
    GenerationChunk,
    GenerationRequest,
)
from serving.errors import EngineUnavailable
from tests.clock import FakeClock

PROVIDER = "external"


class BreaksAfterFirstChunk:
    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        yield GenerationChunk((ChoiceDelta(0, "Hello"),))
        raise EngineUnavailable("upstream stream broke")

    async def stats(self) -> EngineStats:
        return EngineStats(timestamp=0.0, running=0, waiting=0)

    async def check_health(self) -> None:
        pass


def decision() -> Decision:
    ranked = (RankedModel(PROVIDER, {}, 1.0),)
    return Decision(PROVIDER, "pinned", ranked, (), None, None, (), 0.1)


async def test_a_failure_after_the_first_chunk_counts_against_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(CircuitBreakerSettings(failure_threshold=2, open_s=30), clock)
    engines = {PROVIDER: BreaksAfterFirstChunk()}
    saturation = SaturationView(LoadPoller({}, interval_s=1.0, clock=clock), {}, clock)
    dispatcher = Dispatcher(engines, saturation, {PROVIDER: breaker})
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    for _ in range(2):
        dispatched = await dispatcher.dispatch(decision(), request)
        with pytest.raises(ServiceUnavailable):
            _ = [chunk async for chunk in dispatched.primed.chunks()]
    assert breaker.state == "open"
