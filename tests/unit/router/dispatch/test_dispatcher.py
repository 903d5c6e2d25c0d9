"""Dispatcher: an external provider's breaker hears of every failure, including one after
the first chunk (the answer is already streaming, so there is no failover, but the next
requests must not keep going to a provider that breaks mid-answer); external spend is
charged to its key and budgets stop overflow."""

from collections.abc import AsyncGenerator

import pytest

from router.dispatch.dispatcher import Dispatcher
from router.dispatch.failures import EngineFailure, NothingFree, Skipped
from router.load.circuit_breaker import CircuitBreaker
from router.load.poller import LoadPoller
from router.load.saturation import SaturationView
from router.load.spend import SpendGuard
from router.model_config import CircuitBreakerSettings, Cost
from router.policy_config import KeyPolicy, SpendBudget
from router.routing.decision import Decision, RankedModel
from serving.engine import (
    ChatPrompt,
    ChoiceDelta,
    Engine,
    EngineStats,
    GenerationChunk,
    GenerationRequest,
    Usage,
)
from serving.errors import ContextLengthExceeded, EngineUnavailable, UpstreamError
from tests.builders import smol_only_config
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


class Answers:
    """Answers ``Hi`` with 1,000 prompt and 1,000 completion tokens of usage."""

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        yield GenerationChunk((ChoiceDelta(0, "Hi", "stop"),), Usage(1000, 1000))

    async def stats(self) -> EngineStats:
        return EngineStats(timestamp=0.0, running=0, waiting=0)

    async def check_health(self) -> None:
        pass


def decision(*ranked_ids: str) -> Decision:
    ranked = tuple(RankedModel(m, {}, 1.0) for m in ranked_ids or (PROVIDER,))
    return Decision(ranked[0].model_id, "pinned", ranked, (), None, None, (), 0.1)


PRICE = Cost(input_per_mtok=1.0, output_per_mtok=2.0)  # an answer above: 0.003


def guard(clock: FakeClock, **budgets: SpendBudget) -> SpendGuard:
    deployment = budgets.pop("deployment", SpendBudget())
    return SpendGuard({PROVIDER: PRICE}, deployment, budgets, 1, clock)


async def test_a_failure_after_the_first_chunk_counts_against_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(CircuitBreakerSettings(failure_threshold=2, open_s=30), clock)
    engines = {PROVIDER: BreaksAfterFirstChunk()}
    saturation = SaturationView(LoadPoller({}, interval_s=1.0, clock=clock), {}, clock)
    dispatcher = Dispatcher(engines, saturation, {PROVIDER: breaker}, guard(clock))
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    for _ in range(2):
        dispatched = await dispatcher.dispatch(decision(), request)
        with pytest.raises(EngineFailure):
            _ = [chunk async for chunk in dispatched.primed.chunks()]
    assert breaker.state == "open"


def fleet(clock: FakeClock, spend: SpendGuard) -> Dispatcher:
    """SmolLM2 (never polled: saturated as ``stale``) and the provider, both answering."""
    smol = smol_only_config().models[0]
    poller = LoadPoller({smol.id: Answers()}, interval_s=1.0, clock=clock)
    saturation = SaturationView(poller, {smol.id: smol}, clock)
    breaker = CircuitBreaker(CircuitBreakerSettings(), clock)
    engines = {smol.id: Answers(), PROVIDER: Answers()}
    return Dispatcher(engines, saturation, {PROVIDER: breaker}, spend)


WAITS, REFUSES = KeyPolicy(over_budget="wait"), KeyPolicy(over_budget="refuse")


async def served_by(dispatcher: Dispatcher, key: str, policy: KeyPolicy = WAITS) -> str:
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    ranked = decision("smollm2-135m", PROVIDER)
    dispatched = await dispatcher.dispatch(ranked, request, key, policy)
    _ = [chunk async for chunk in dispatched.primed.chunks()]  # the stream closes: billed
    return dispatched.primed.model_id


async def test_a_key_over_its_hourly_budget_waits_locally_or_is_refused() -> None:
    clock = FakeClock()
    spend = guard(clock, team=SpendBudget(per_hour=0.005))
    dispatcher = fleet(clock, spend)
    assert await served_by(dispatcher, "team") == PROVIDER  # 0.003 spent
    assert await served_by(dispatcher, "team") == PROVIDER  # 0.006: over from now on
    assert await served_by(dispatcher, "team") == "smollm2-135m"  # waits, past saturation
    with pytest.raises(NothingFree) as refused:
        await served_by(dispatcher, "team", REFUSES)
    assert refused.value.reasons() == "smollm2-135m: stale, external: budget"
    assert await served_by(dispatcher, "other") == PROVIDER  # not its budget
    clock.now += 3601  # the hour has passed
    assert await served_by(dispatcher, "team") == PROVIDER


async def test_the_deployment_budget_binds_every_key() -> None:
    clock = FakeClock()
    dispatcher = fleet(clock, guard(clock, deployment=SpendBudget(per_day=0.003)))
    assert await served_by(dispatcher, "a") == PROVIDER
    with pytest.raises(NothingFree):
        await served_by(dispatcher, "b", REFUSES)
    clock.now += 86401
    assert await served_by(dispatcher, "b", REFUSES) == PROVIDER


class FullBatch:
    """One replica running a full batch of 8 (a LoadSource)."""

    async def replica_stats(self) -> list[EngineStats]:
        return [EngineStats(0.0, running=8, waiting=0, max_running=8)]


async def test_a_keys_ttft_target_decides_its_overflow() -> None:
    """The untrained predictor says SmolLM2's first slot frees in ~6.5 s: a key that wants
    1 s overflows, one that accepts 10 s stays, as does a key without a target (SmolLM2's
    own rule: a queue of 5)."""
    clock = FakeClock()
    smol = smol_only_config().models[0]
    poller = LoadPoller({smol.id: FullBatch()}, interval_s=1.0, clock=clock)
    await poller.poll_once()
    saturation = SaturationView(poller, {smol.id: smol}, clock)
    breaker = CircuitBreaker(CircuitBreakerSettings(), clock)
    engines = {smol.id: Answers(), PROVIDER: Answers()}
    dispatcher = Dispatcher(engines, saturation, {PROVIDER: breaker}, guard(clock))
    assert await served_by(dispatcher, "k", KeyPolicy(ttft_target_s=1.0)) == PROVIDER
    # Served elsewhere within its target: the margin (1 until then) learns from it.
    assert saturation.rates(smol.id).margin.value < 1
    assert await served_by(dispatcher, "k", KeyPolicy(ttft_target_s=10.0)) == smol.id
    assert await served_by(dispatcher, "k", KeyPolicy()) == smol.id


class Raises:
    """Raises ``error`` before its first chunk, and counts its calls."""

    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        self.calls += 1
        raise self.error
        yield  # an async generator, like every engine's

    async def stats(self) -> EngineStats:
        return EngineStats(timestamp=0.0, running=0, waiting=0)

    async def check_health(self) -> None:
        pass


class Idle:
    """One idle replica with a batch of 8 (a LoadSource)."""

    async def replica_stats(self) -> list[EngineStats]:
        return [EngineStats(0.0, running=0, waiting=0, max_running=8)]


async def idle_fleet(
    clock: FakeClock, local: Engine, provider: Engine
) -> tuple[Dispatcher, CircuitBreaker]:
    """SmolLM2 idle (so never saturated) and the provider, with the given engines."""
    smol = smol_only_config().models[0]
    poller = LoadPoller({smol.id: Idle()}, interval_s=1.0, clock=clock)
    await poller.poll_once()
    saturation = SaturationView(poller, {smol.id: smol}, clock)
    breaker = CircuitBreaker(CircuitBreakerSettings(failure_threshold=1), clock)
    engines = {smol.id: local, PROVIDER: provider}
    return Dispatcher(engines, saturation, {PROVIDER: breaker}, guard(clock)), breaker


async def test_a_local_fault_before_the_first_chunk_fails_over() -> None:
    dispatcher, _ = await idle_fleet(FakeClock(), Raises(EngineUnavailable("gone")), Answers())
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    dispatched = await dispatcher.dispatch(decision("smollm2-135m", PROVIDER), request)
    assert dispatched.primed.model_id == PROVIDER
    assert [(s.model_id, s.reason) for s in dispatched.skipped] == [("smollm2-135m", "unavailable")]


async def test_the_requests_own_error_is_the_answer_and_goes_nowhere_else() -> None:
    provider = Answers()
    too_long = ContextLengthExceeded(9000, 100, 8192)
    dispatcher, _ = await idle_fleet(FakeClock(), Raises(too_long), provider)
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    with pytest.raises(EngineFailure) as failure:
        await dispatcher.dispatch(decision("smollm2-135m", PROVIDER), request)
    assert failure.value.model_id == "smollm2-135m" and failure.value.error is too_long


async def test_a_providers_429_opens_its_breaker_for_the_time_it_asked() -> None:
    clock = FakeClock()
    slow_down = UpstreamError(429, "slow down", retry_after=45.5)  # open_s: 30
    dispatcher, breaker = await idle_fleet(clock, Answers(), Raises(slow_down))
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    dispatched = await dispatcher.dispatch(decision(PROVIDER, "smollm2-135m"), request)
    assert dispatched.primed.model_id == "smollm2-135m"
    assert dispatched.skipped == (Skipped(PROVIDER, "rate_limited"),)
    assert breaker.rate_limited
    clock.now += 45.4
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()


async def test_a_providers_400_is_the_clients_error_and_leaves_the_breaker_closed() -> None:
    bad = UpstreamError(400, "bad tool schema", "invalid_request_error")
    dispatcher, breaker = await idle_fleet(FakeClock(), Answers(), Raises(bad))
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    with pytest.raises(EngineFailure) as failure:
        await dispatcher.dispatch(decision(PROVIDER, "smollm2-135m"), request)
    assert failure.value.error is bad and breaker.state == "closed"


async def test_nothing_free_says_whether_every_model_is_down() -> None:
    down = Raises(EngineUnavailable("gone"))
    dispatcher, _ = await idle_fleet(FakeClock(), down, Raises(UpstreamError(502, "bad gw")))
    request = GenerationRequest("r", ChatPrompt(({"role": "user", "content": "hi"},)))
    with pytest.raises(NothingFree) as nothing:
        await dispatcher.dispatch(decision("smollm2-135m", PROVIDER), request)
    assert nothing.value.all_down
    assert nothing.value.reasons() == "smollm2-135m: unavailable, external: unavailable"
