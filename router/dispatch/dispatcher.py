"""Dispatcher: walk one ranked decision until a model takes the request.

Order: the decision's choice, then its other local models in rank order, then its
other external providers in rank order (overflow stays on the cluster while it can). A
local model that the saturation view calls saturated, or whose bounded Ray Serve queue
refuses, is skipped at once; an
external provider whose circuit is open is skipped; a model that fails before its first
chunk is skipped (failover). A client error (4xx, including a provider's own 4xx) is the
answer and is not retried elsewhere. External providers are tried only while the
deployment and the key are within their external spend budgets (``router.load.spend``);
over budget, a key that waits (``over_budget: wait``) is sent to its first local model
past that model's saturation limits (Ray's bounded queue still applies). When nothing
takes the request the client gets a 429 with ``Retry-After`` within milliseconds, never
a queue timeout. Once the first chunk
is out, a failure ends the stream with an error event (``router.http.streaming``), no retry, and
still counts against an external provider's breaker. A generation still running at
``router.request_timeout_s`` is stopped (its engine slot freed) with a 503.
"""

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from router.dispatch.primed_stream import PrimedStream, start_generation
from router.errors import (
    ApiError,
    GenerationTimeout,
    InternalError,
    Overloaded,
    ServiceUnavailable,
    UpstreamRejected,
)
from router.load.circuit_breaker import CircuitBreaker
from router.load.saturation import SaturationView
from router.load.spend import SpendGuard
from router.load.ttft import RequestSize
from router.policy_config import KeyPolicy
from router.routing.decision import Decision
from router.routing.tokens import prompt_chars
from serving.engine import Engine, GenerationChunk, GenerationRequest, Usage

RETRY_AFTER_S = 1
NO_POLICY = KeyPolicy()
NO_BUDGET = 1 << 30  # no max_tokens and no cap: the learned typical length decides
_FAILURES = frozenset({"unavailable", "circuit_open", "provider_error"})
# Provider answers that say our side of the integration is wrong (key, model name) or
# that it timed out: failures of the provider, not the client's error.
_PROVIDER_FAULTS = frozenset({401, 403, 404, 408})


@dataclass(frozen=True)
class Skipped:
    model_id: str
    reason: str  # stale, backpressure, queue, kv_cache, circuit_open, unavailable, ...


@dataclass(frozen=True)
class Dispatched:
    primed: PrimedStream
    skipped: tuple[Skipped, ...]


class Dispatcher:
    def __init__(
        self,
        engines: Mapping[str, Engine],
        saturation: SaturationView,
        breakers: Mapping[str, CircuitBreaker],
        spend: SpendGuard,
        request_timeout_s: float | None = None,
    ) -> None:
        self._engines, self._saturation, self._breakers = engines, saturation, breakers
        self._spend, self._timeout_s = spend, request_timeout_s

    @property
    def saturation(self) -> SaturationView:
        return self._saturation

    async def dispatch(
        self,
        decision: Decision,
        request: GenerationRequest,
        key: str | None = None,
        policy: KeyPolicy = NO_POLICY,
    ) -> Dispatched:
        """``key``: the caller's key name (None: unnamed), which pays for an overflow;
        ``policy``: its policy. A ``sheddable`` key's requests go first when the fleet is
        busy: a local model counts as saturated for them at half its queue limit, and
        they never overflow to a paid provider. A key's ``ttft_target_s`` replaces each
        local model's own rule for its requests."""
        ranked = [r.model_id for r in decision.ranked]
        local = [m for m in ranked if m not in self._breakers]
        external = [] if policy.sheddable else [m for m in ranked if m in self._breakers]
        over_budget = bool(external) and not self._spend.allows(key)
        order = [m for m in ranked if m in local or (m in external and not over_budget)]
        # The first one skipped is the chosen model (the overflow metric's "from").
        unpaid = [Skipped(m, "budget") for m in external] if over_budget else []
        skipped = unpaid[:1] if unpaid and unpaid[0].model_id == ranked[0] else []
        deadline = None
        if self._timeout_s is not None:
            deadline = asyncio.get_running_loop().time() + self._timeout_s
        size = _request_size(request, decision)
        for model_id in order:
            outcome = await self._try(model_id, request, size, policy, key, deadline)
            if isinstance(outcome, PrimedStream):
                return self._served(outcome, skipped)
            skipped.append(outcome)
        if over_budget and policy.over_budget == "wait" and local:
            # Rather than pay: its first local model, past that model's saturation limits.
            outcome = await self._try_local(local[0], request, size, policy, deadline, True)
            if isinstance(outcome, PrimedStream):
                return self._served(outcome, skipped)
            skipped.append(outcome)
        raise self._nothing_free(skipped + [s for s in unpaid if s not in skipped])

    def _served(self, primed: PrimedStream, skipped: list[Skipped]) -> Dispatched:
        for passed_over in skipped:
            if passed_over.reason == "ttft":  # served elsewhere, within its target
                self._saturation.sent_elsewhere(passed_over.model_id)
        return Dispatched(primed, tuple(skipped))

    async def _try(
        self,
        model_id: str,
        request: GenerationRequest,
        size: RequestSize,
        policy: KeyPolicy,
        key: str | None,
        deadline: float | None,
    ) -> PrimedStream | Skipped:
        if model_id in self._breakers:
            return await self._try_external(model_id, request, key, deadline)
        return await self._try_local(model_id, request, size, policy, deadline)

    async def _try_external(
        self, model_id: str, request: GenerationRequest, key: str | None, deadline: float | None
    ) -> PrimedStream | Skipped:
        breaker = self._breakers[model_id]
        if not breaker.allow():
            return Skipped(model_id, "rate_limited" if breaker.rate_limited else "circuit_open")
        settled = False  # the breaker heard how it went (else a claimed probe is released)
        try:
            engine = self._engines[model_id]
            bill = Bill(self._spend, model_id, key)
            primed = await start_generation(
                engine, request, model_id, bill.close, breaker, deadline, bill.saw
            )
            settled = True  # the stream gives the verdict when it ends
            return primed
        except UpstreamRejected as exc:
            settled = True
            if exc.status == 429:
                hint = exc.retry_after_s
                breaker.failed(retry_after_s=RETRY_AFTER_S if hint is None else hint)
                return Skipped(model_id, "rate_limited")
            if exc.status in _PROVIDER_FAULTS:  # our key or model name is wrong there
                breaker.failed()
                return Skipped(model_id, "provider_error")
            breaker.succeeded()  # the provider is up; the request itself is wrong
            raise
        except GenerationTimeout:
            raise  # the request's own deadline: nothing else would be in time either
        except (ServiceUnavailable, InternalError):
            breaker.failed()
            settled = True
            return Skipped(model_id, "unavailable")
        except Overloaded:  # our own cap on requests in flight to it: busy, not broken
            return Skipped(model_id, "at_capacity")
        finally:
            if not settled:
                breaker.release()

    async def _try_local(
        self,
        model_id: str,
        request: GenerationRequest,
        size: RequestSize,
        policy: KeyPolicy,
        deadline: float | None,
        past_limits: bool = False,
    ) -> PrimedStream | Skipped:
        """``past_limits``: sent even when saturated (its queue may still refuse)."""
        saturation = self._saturation
        headroom = 0.5 if policy.sheddable else 1.0
        state = saturation.state(model_id, headroom, size, policy.ttft_target_s)
        if state.saturated and not past_limits:
            return Skipped(model_id, state.reason or "saturated")
        record = saturation.started(model_id, size, state)
        finished = functools.partial(saturation.finished, model_id, record)
        handed_off = False  # once the stream exists, its close() reports the finish
        try:
            engine = self._engines[model_id]
            primed = await start_generation(
                engine, request, model_id, finished, deadline=deadline, on_chunk=record.saw
            )
            saturation.first_token(model_id, record)
            handed_off = True
            return primed
        except Overloaded:
            self._saturation.refused(model_id)
            return Skipped(model_id, "backpressure")
        except GenerationTimeout:
            raise
        except (ServiceUnavailable, InternalError):  # failed before the first byte: fail over
            return Skipped(model_id, "unavailable")
        finally:
            if not handed_off:  # also on cancellation (the client left while waiting)
                finished()

    def _nothing_free(self, skipped: list[Skipped]) -> ApiError:
        reasons = ", ".join(f"{s.model_id}: {s.reason}" for s in skipped)
        if all(s.reason in _FAILURES for s in skipped):  # down, not busy: say so
            return ServiceUnavailable(
                f"No model is available for this request ({reasons}).",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        # Local load moves within a second, so that is when to try again.
        return Overloaded(
            f"No model can take this request now ({reasons}).", retry_after_s=RETRY_AFTER_S
        )


class Bill:
    """What one external answer cost, charged to its key when its stream closes."""

    def __init__(self, spend: SpendGuard, model_id: str, key: str | None) -> None:
        self._spend, self._model_id, self._key = spend, model_id, key
        self._usage: Usage | None = None

    def saw(self, chunk: GenerationChunk) -> None:
        if chunk.usage is not None:
            self._usage = chunk.usage

    def close(self) -> None:
        self._spend.charge(self._model_id, self._key, self._usage)


def _request_size(request: GenerationRequest, decision: Decision) -> RequestSize:
    """For the TTFT prediction: the chosen model's token counts stand in for the other
    local models' (their tokenizers differ a little); uncounted, ~4 characters a token."""
    prompt = decision.prompt_tokens
    if prompt is None:
        prompt = prompt_chars(request) // 4
    budget = decision.completion_budget or request.sampling.max_tokens or NO_BUDGET
    return RequestSize(prompt_tokens=prompt, budget=budget)
