"""RouterMetrics on a prometheus_client registry: the exposition text it produces."""

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from router.errors import InvalidRequest, RateLimited
from router.load.circuit_breaker import CircuitBreaker
from router.load.poller import LoadPoller
from router.load.saturation import SaturationView
from router.load.spend import SpendGuard
from router.metrics.instruments import PrometheusInstruments, RayInstruments
from router.metrics.router_metrics import RouterMetrics, ServedBy
from router.model_config import CircuitBreakerSettings, Cost
from router.policy_config import SpendBudget
from serving.engine import ChoiceDelta, EngineStats, GenerationChunk, Usage
from tests.builders import smol_only_config
from tests.clock import FakeClock

SMOL = "smollm2-135m"
PRICES = {SMOL: Cost(input_per_mtok=1, output_per_mtok=2),
          "external": Cost(input_per_mtok=10, output_per_mtok=40)}  # fmt: skip


def metrics(clock: FakeClock) -> tuple[RouterMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    instruments = PrometheusInstruments(registry)
    return RouterMetrics(instruments, PRICES, PRICES["external"], clock), registry


def samples(registry: CollectorRegistry) -> set[str]:
    """The exposition's sample lines (no HELP/TYPE, no creation timestamps)."""
    text = generate_latest(registry).decode()
    return {line for line in text.splitlines() if line and not line.startswith("#")
            and "_created" not in line}  # fmt: skip


def test_a_served_stream_is_counted_timed_and_priced() -> None:
    clock = FakeClock()
    recorder, registry = metrics(clock)
    started = clock.now
    clock.now += 0.25  # the first chunk is back
    meter = recorder.meter(ServedBy("r1", "app", SMOL, "routed"), started)
    meter.saw(GenerationChunk((ChoiceDelta(0, "Hi"),)))
    clock.now += 0.5  # 4 more tokens at 0.125 s each
    meter.saw(GenerationChunk((ChoiceDelta(0, "!", "stop"),), Usage(1000, 5)))
    meter.finish("ok")
    meter.finish("cancelled")  # the response's own close: already recorded, ignored
    lines = samples(registry)
    assert {
        'switchboard_requests_total{model="smollm2-135m",outcome="ok",route="routed"} 1.0',
        'switchboard_ttft_seconds_bucket{le="0.25",model="smollm2-135m"} 1.0',
        'switchboard_ttft_seconds_bucket{le="0.1",model="smollm2-135m"} 0.0',
        'switchboard_e2e_seconds_sum{model="smollm2-135m"} 0.75',
        'switchboard_tpot_seconds_sum{model="smollm2-135m"} 0.125',
        'switchboard_tpot_seconds_bucket{le="0.1",model="smollm2-135m"} 0.0',
        'switchboard_prompt_tokens_total{model="smollm2-135m"} 1000.0',
        'switchboard_completion_tokens_total{model="smollm2-135m"} 5.0',
        # 1000 x 1 + 5 x 2 per million, against 1000 x 10 + 5 x 40 on the top model
        'switchboard_estimated_cost_total{model="smollm2-135m"} 0.00101',
        'switchboard_baseline_cost_total{model="smollm2-135m"} 0.0102',
    } <= lines


def test_usage_is_counted_by_key_name() -> None:
    clock = FakeClock()
    recorder, registry = metrics(clock)
    for request_id, key, model, usage in (
        ("r1", "app", SMOL, Usage(1000, 5)),
        ("r2", "app", "external", Usage(100, 10)),
        ("r3", None, SMOL, Usage(7, 3)),  # a key without a name, or auth off
    ):
        meter = recorder.meter(ServedBy(request_id, key, model, "routed"), clock.now)
        meter.saw(GenerationChunk((ChoiceDelta(0, "ok", "stop"),), usage))
        meter.finish("ok")
    lines = samples(registry)
    assert {
        'switchboard_key_requests_total{key="app"} 2.0',
        'switchboard_key_requests_total{key="unnamed"} 1.0',
        'switchboard_key_tokens_total{key="app",kind="prompt"} 1100.0',
        'switchboard_key_tokens_total{key="app",kind="completion"} 15.0',
        'switchboard_key_tokens_total{key="unnamed",kind="prompt"} 7.0',
        # 0.00101 locally, plus 100 x 10 + 10 x 40 per million at the provider
        'switchboard_key_estimated_cost_total{key="app"} 0.00241',
    } <= lines


def test_refusals_overflow_and_decisions() -> None:
    recorder, registry = metrics(FakeClock())
    recorder.refused(None, InvalidRequest("bad"))
    recorder.refused(None, RateLimited("over the key's limit", retry_after_s=1))
    recorder.overflowed(SMOL, "queue", "external")
    recorder.decided(0.003)
    lines = samples(registry)
    assert {
        'switchboard_requests_total{model="none",outcome="400",route="none"} 1.0',
        'switchboard_requests_total{model="none",outcome="rate_limited",route="none"} 1.0',
        'switchboard_overflow_total{model="smollm2-135m",reason="queue",target="external"} 1.0',
        'switchboard_decision_seconds_bucket{le="0.005"} 1.0',
        'switchboard_decision_seconds_bucket{le="0.0025"} 0.0',
    } <= lines


def test_load_gauges_follow_the_saturation_view_and_the_circuit() -> None:
    clock = FakeClock()
    recorder, registry = metrics(clock)

    class Busy:
        async def replica_stats(self) -> list[EngineStats]:
            return [EngineStats(0.0, running=8, waiting=5, max_running=8)]

    poller = LoadPoller({SMOL: Busy()}, interval_s=0.25, clock=clock)
    asyncio.run(poller.poll_once())
    smol = smol_only_config(saturation={"ttft_target_s": 2.5}).models[0]
    view = SaturationView(poller, {SMOL: smol}, clock)
    view.started(SMOL)
    breaker = CircuitBreaker(CircuitBreakerSettings(failure_threshold=1, open_s=5), clock)
    breaker.failed()
    budgets = {"team": SpendBudget(per_day=5.0)}
    spend = SpendGuard({}, SpendBudget(per_hour=2.0), budgets, router_replicas=2, clock=clock)
    recorder.report_load(view, {"external": breaker}, spend)
    assert {
        'switchboard_model_saturated{model="smollm2-135m"} 1.0',
        'switchboard_router_in_flight{model="smollm2-135m"} 1.0',
        'switchboard_circuit_state{provider="external"} 2.0',
        # Whole budgets, not the replica's share.
        'switchboard_external_budget{key="(deployment)",window="hour"} 2.0',
        'switchboard_external_budget{key="team",window="day"} 5.0',
        'switchboard_ttft_target_seconds{model="smollm2-135m"} 2.5',
        # The untrained predictor's priors (router.load.ttft).
        'switchboard_prefill_seconds{model="smollm2-135m"} 0.3',
        'switchboard_decode_seconds_per_token{model="smollm2-135m"} 0.1',
    } <= samples(registry)


def test_ray_backend_takes_a_served_answer_with_zero_usage_and_zero_cost() -> None:
    # Ray's Counter.inc refuses 0, where prometheus_client allows it: no usage from the
    # provider, or a free model, must still be a served answer, not a 500.
    clock = FakeClock()
    free = {SMOL: Cost(input_per_mtok=0, output_per_mtok=0)}
    recorder = RouterMetrics(RayInstruments(), free, free[SMOL], clock)
    meter = recorder.meter(ServedBy("r1", "app", SMOL, "routed"), clock.now)
    meter.saw(GenerationChunk((ChoiceDelta(0, "", "stop"),), Usage(0, 0)))
    meter.finish("ok")
    recorder.refused(None, RateLimited("over", retry_after_s=1))
