"""RouterMetrics: what the router records per request and per load poll.

Names and labels (exported by Ray as ``ray_<name>``; see README "For capacity planners"):
- ``switchboard_requests{model, route, outcome}``: requests that reached routing;
  ``outcome`` is ``ok``, ``stream_error``, ``cancelled`` (the client left),
  ``rate_limited`` (the key's own limit) or the HTTP status of another refusal.
  ``model`` is the model that served it (or was chosen, for refusals; ``none`` when
  refused before a decision).
- ``switchboard_decision_seconds``: the routing decision (token counts, classifier).
- ``switchboard_ttft_seconds{model}``, ``switchboard_tpot_seconds{model}``,
  ``switchboard_e2e_seconds{model}``: from the router's receipt of the request.
- ``switchboard_prompt_tokens{model}``, ``switchboard_completion_tokens{model}``.
- Usage by key name (``unnamed`` for keys without one, and with auth off; names come
  from the config, so the label set stays bounded): ``switchboard_key_requests{key}``
  (requests served, whatever their outcome), ``switchboard_key_tokens{key, kind}``
  (``kind`` prompt or completion) and ``switchboard_key_estimated_cost{key}``.
- ``switchboard_overflow{model, reason, target}``: served by ``target`` instead of the
  chosen ``model``; ``reason`` is why the chosen model was skipped (queue, stale, ...).
- ``switchboard_estimated_cost{model}`` and ``switchboard_baseline_cost{model}``: the
  cost of what was served at the fleet's prices, and what the same tokens would have
  cost on the fleet's top-tier model (the always-largest baseline);
  ``switchboard_external_spend{key, model}``: what external providers' answers cost, by
  key name (``unnamed`` for keys without one), as the spend budgets count it, and
  ``switchboard_external_budget{key, window}`` the budgets (``window`` hour or day; key
  ``(deployment)`` for the deployment's), refreshed every load poll.
- Per router replica, refreshed every load poll: ``switchboard_model_saturated{model}``
  (0/1), ``switchboard_router_in_flight{model}``,
  ``switchboard_circuit_state{provider}`` (0 closed, 1 half-open, 2 open), and the TTFT
  predictor (``router.load.ttft``): ``switchboard_ttft_predicted_seconds{model}`` for a
  short request now, the learned ``switchboard_prefill_seconds{model}`` (of a short
  prompt) and ``switchboard_decode_seconds_per_token{model}``, the model's target
  ``switchboard_ttft_target_seconds{model}`` (where it has one: configured, or learned
  with ``auto``), and
  ``switchboard_ttft_prediction_error{model}``: |predicted - measured| / measured for
  each local request's TTFT (measured from its dispatch, which excludes routing).
- ``switchboard_policy_updates{outcome}``: live policy changes (``applied``, or
  ``rejected`` and the old policy kept), counted from the replica's start, which
  applies one.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from router.errors import ApiError, RateLimited
from router.load.circuit_breaker import CircuitBreaker
from router.load.saturation import SaturationView
from router.load.spend import SpendGuard
from router.load.ttft import NOMINAL
from router.metrics.instruments import Instruments
from router.metrics.request_log import log_served
from router.model_config import Cost
from router.routing.decision import Decision
from serving.engine import GenerationChunk, Usage

CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
_DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)
_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_TPOT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_E2E_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_ERROR_BUCKETS = (0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0)


class RouterMetrics:
    def __init__(
        self,
        instruments: Instruments,
        prices: Mapping[str, Cost],
        baseline: Cost,
        clock: Callable[[], float],
        external: frozenset[str] = frozenset(),
    ) -> None:
        """``prices``: every model's cost per 1M tokens; ``baseline``: the top model's;
        ``external``: which of them are external providers."""
        self._prices, self._baseline, self._clock = dict(prices), baseline, clock
        self._external = external
        by_model = ("model",)
        self.requests = instruments.counter(
            "switchboard_requests", "Requests by model, route and outcome",
            ("model", "route", "outcome"))  # fmt: skip
        self.decision = instruments.histogram(
            "switchboard_decision_seconds", "Routing decision latency", (), _DECISION_BUCKETS
        )
        self.ttft = instruments.histogram(
            "switchboard_ttft_seconds", "Time to first token", by_model, _TTFT_BUCKETS
        )
        self.tpot = instruments.histogram(
            "switchboard_tpot_seconds", "Time per output token after the first", by_model,
            _TPOT_BUCKETS)  # fmt: skip
        self.e2e = instruments.histogram(
            "switchboard_e2e_seconds", "End-to-end request latency", by_model, _E2E_BUCKETS
        )
        self.prompt_tokens = instruments.counter(
            "switchboard_prompt_tokens", "Prompt tokens served", by_model
        )
        self.completion_tokens = instruments.counter(
            "switchboard_completion_tokens", "Completion tokens served", by_model
        )
        self.overflow = instruments.counter(
            "switchboard_overflow", "Requests served elsewhere than the chosen model",
            ("model", "reason", "target"))  # fmt: skip
        self.cost = instruments.counter(
            "switchboard_estimated_cost", "Estimated cost of served tokens", by_model
        )
        by_key = ("key",)
        self.key_requests = instruments.counter(
            "switchboard_key_requests", "Requests served by key name", by_key
        )
        self.key_tokens = instruments.counter(
            "switchboard_key_tokens", "Tokens served by key name and kind", ("key", "kind")
        )
        self.key_cost = instruments.counter(
            "switchboard_key_estimated_cost", "Estimated cost of served tokens by key name", by_key
        )
        self.external_spend = instruments.counter(
            "switchboard_external_spend", "Cost of external providers' answers by key",
            ("key", "model"))  # fmt: skip
        self.baseline_cost = instruments.counter(
            "switchboard_baseline_cost", "Cost of the same tokens on the top-tier model",
            by_model)  # fmt: skip
        self.external_budget = instruments.gauge(
            "switchboard_external_budget", "External spend budget by key and window",
            ("key", "window"))  # fmt: skip
        self.saturated = instruments.gauge(
            "switchboard_model_saturated", "1 when this router sees the model saturated",
            by_model)  # fmt: skip
        self.in_flight = instruments.gauge(
            "switchboard_router_in_flight", "Requests this router has in flight", by_model
        )
        self.circuit = instruments.gauge(
            "switchboard_circuit_state", "Provider circuit: 0 closed, 1 half-open, 2 open",
            ("provider",))  # fmt: skip
        self.ttft_predicted = instruments.gauge(
            "switchboard_ttft_predicted_seconds", "Predicted TTFT of a short request now",
            by_model)  # fmt: skip
        self.prefill = instruments.gauge(
            "switchboard_prefill_seconds",
            "Learned prefill of a short prompt, batch empty",
            by_model,
        )
        self.ttft_target = instruments.gauge(
            "switchboard_ttft_target_seconds",
            "The model's TTFT target (configured, or learned: auto)",
            by_model,
        )
        self.decode_rate = instruments.gauge(
            "switchboard_decode_seconds_per_token", "Learned decode time per token, batch empty",
            by_model)  # fmt: skip
        self.ttft_error = instruments.histogram(
            "switchboard_ttft_prediction_error", "|predicted - measured| / measured TTFT",
            by_model, _ERROR_BUCKETS)  # fmt: skip
        self.policy_updates = instruments.counter(
            "switchboard_policy_updates",
            "Live policy changes (the router's Serve user_config), applied or rejected",
            ("outcome",))  # fmt: skip

    def decided(self, seconds: float) -> None:
        self.decision.observe(seconds, {})

    def policy_updated(self, outcome: Literal["applied", "rejected"]) -> None:
        self.policy_updates.inc(1, {"outcome": outcome})

    def overflowed(self, chosen: str, reason: str, target: str) -> None:
        self.overflow.inc(1, {"model": chosen, "reason": reason, "target": target})

    def refused(self, decision: Decision | None, error: ApiError) -> None:
        """A request refused, before or after its routing decision. A key over its own
        rate limit is ``rate_limited``, not a 429 for want of room."""
        model, route = (decision.model_id, decision.route) if decision else ("none", "none")
        outcome = "rate_limited" if isinstance(error, RateLimited) else str(error.status)
        self.requests.inc(1, {"model": model, "route": route, "outcome": outcome})

    def meter(
        self,
        served: "ServedBy",
        started: float,
        on_finish: Callable[[int | None], None] | None = None,
    ) -> "StreamMeter":
        """Start metering a dispatched request whose first chunk is here now;
        ``on_finish`` hears the tokens it used (None: unknown) when it ends."""
        return StreamMeter(self, served, started, on_finish)

    def served(
        self, served: "ServedBy", outcome: str, ttft_s: float, e2e_s: float, usage: Usage | None
    ) -> None:
        model, key = {"model": served.model_id}, {"key": served.key or "unnamed"}
        self.requests.inc(1, {**model, "route": served.route, "outcome": outcome})
        self.key_requests.inc(1, key)
        self.ttft.observe(ttft_s, model)
        self.e2e.observe(e2e_s, model)
        if usage is None:
            return
        if usage.completion_tokens > 1:
            self.tpot.observe((e2e_s - ttft_s) / (usage.completion_tokens - 1), model)
        self.prompt_tokens.inc(usage.prompt_tokens, model)
        self.completion_tokens.inc(usage.completion_tokens, model)
        cost = self._prices[served.model_id].of(usage.prompt_tokens, usage.completion_tokens)
        self.cost.inc(cost, model)
        self.key_tokens.inc(usage.prompt_tokens, {**key, "kind": "prompt"})
        self.key_tokens.inc(usage.completion_tokens, {**key, "kind": "completion"})
        self.key_cost.inc(cost, key)
        baseline = self._baseline.of(usage.prompt_tokens, usage.completion_tokens)
        self.baseline_cost.inc(baseline, model)
        if served.model_id in self._external:
            self.external_spend.inc(cost, {**model, **key})

    def report_load(
        self,
        saturation: SaturationView,
        breakers: Mapping[str, CircuitBreaker],
        spend: SpendGuard,
    ) -> None:
        for model_id in saturation.model_ids:
            tags = {"model": model_id}
            state = saturation.state(model_id)
            self.saturated.set(float(state.saturated), tags)
            self.in_flight.set(saturation.in_flight(model_id), tags)
            if state.predicted is not None:
                self.ttft_predicted.set(state.predicted.ttft_s, tags)
            rates = saturation.rates(model_id)
            self.prefill.set(rates.prefill(NOMINAL.prompt_tokens), tags)
            self.decode_rate.set(rates.decode(), tags)
            target_s = saturation.ttft_target_s(model_id)
            if target_s is not None:
                self.ttft_target.set(target_s, tags)
            for error in saturation.prediction_errors(model_id):
                self.ttft_error.observe(error, tags)
        for provider, breaker in breakers.items():
            self.circuit.set(CIRCUIT_STATES[breaker.state], {"provider": provider})
        for key, window, budget in spend.budgets():
            self.external_budget.set(budget, {"key": key, "window": window})

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock


@dataclass(frozen=True)
class ServedBy:
    """Who asked, and where the dispatcher sent it."""

    request_id: str
    key: str | None  # the key's name, never the key
    model_id: str
    route: str  # as in the x-switchboard-route header


class StreamMeter:
    """One dispatched request: its chunks are seen as they go out; ``finish`` records it
    (metrics and the request log line) once, whichever way it ends: done, failed
    mid-stream, or abandoned by the client."""

    def __init__(
        self,
        metrics: RouterMetrics,
        served: ServedBy,
        started: float,
        on_finish: Callable[[int | None], None] | None = None,
    ) -> None:
        self.served, self.started, self._on_finish = served, started, on_finish
        self.ttft_s = metrics.clock() - started
        self.usage: Usage | None = None
        self._metrics: RouterMetrics | None = metrics

    def saw(self, chunk: GenerationChunk) -> GenerationChunk:
        if chunk.usage is not None:
            self.usage = chunk.usage
        return chunk

    def finish(self, outcome: str) -> None:
        if self._metrics is None:
            return
        metrics, self._metrics = self._metrics, None
        e2e_s = metrics.clock() - self.started
        metrics.served(self.served, outcome, self.ttft_s, e2e_s, self.usage)
        if self._on_finish is not None:
            self._on_finish(self.usage.total_tokens if self.usage is not None else None)
        served = self.served
        log_served(request_id=served.request_id, key=served.key, model=served.model_id,
                   route=served.route, outcome=outcome, ttft_s=self.ttft_s, e2e_s=e2e_s,
                   usage=self.usage)  # fmt: skip
