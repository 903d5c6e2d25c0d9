"""Dispatcher: walk one request's dispatch plan (``router.dispatch.plan``) until a model
takes the request.

A local model that the saturation view calls saturated, or whose bounded Ray Serve
queue refuses, is skipped at once; an external provider whose circuit is open is
skipped; a model that fails before its first chunk is skipped (failover). A client error
(the request's own, including a provider's 4xx) is the answer and is not retried
elsewhere. When nothing takes the request the client gets a 429 with ``Retry-After``
within milliseconds, never a queue timeout. Once the first chunk is out, a failure ends
the stream with an error event (``router.http.streaming``), no retry, and still counts
against an external provider's breaker. A generation still running at
``router.request_timeout_s`` is stopped (its engine slot freed). Failures are raised in
the dispatcher's own terms (``router.dispatch.failures``); the edge words them.
"""

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from router.dispatch.failures import EngineFailure, NothingFree, Skipped
from router.dispatch.plan import Attempt, plan_dispatch
from router.dispatch.primed_stream import PrimedStream, start_generation
from router.load.circuit_breaker import CircuitBreaker
from router.load.saturation import SaturationView
from router.load.spend import SpendGuard
from router.load.ttft import RequestSize
from router.policy_config import KeyPolicy
from router.routing.decision import Decision
from router.routing.tokens import prompt_chars
from serving.engine import Engine, GenerationChunk, GenerationRequest, Usage
from serving.errors import EngineError, EngineOverloaded, UpstreamError, is_engine_fault

RETRY_AFTER_S = 1  # local load moves within a second: when to try again
NO_POLICY = KeyPolicy()
NO_BUDGET = 1 << 30  # no max_tokens and no cap: the learned typical length decides
# Provider answers that say our side of the integration is wrong (key, model name) or
# that it timed out: failures of the provider, not the client's error.
_PROVIDER_FAULTS = frozenset({401, 403, 404, 408})


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
        ``policy``: its policy. Raises ``NothingFree``, ``EngineFailure`` (a client
        error) or ``DeadlinePassed``."""
        plan = plan_dispatch(
            decision, policy, self._breakers.keys(), lambda: self._spend.allows(key)
        )
        # The first one skipped is the chosen model (the overflow metric's "from").
        skipped = [Skipped(plan.chosen, "budget")] if plan.chosen in plan.unpaid else []
        deadline = None
        if self._timeout_s is not None:
            deadline = asyncio.get_running_loop().time() + self._timeout_s
        size = _request_size(request, decision)
        for attempt in plan.attempts:
            if attempt.external:
                outcome = await self._try_external(attempt.model_id, request, key, deadline)
            else:
                outcome = await self._try_local(attempt, request, size, deadline)
            if isinstance(outcome, PrimedStream):
                return self._served(outcome, skipped)
            skipped.append(outcome)
        unpaid = [Skipped(m, "budget") for m in plan.unpaid if m != plan.chosen]
        raise NothingFree(tuple(skipped + unpaid), RETRY_AFTER_S)

    def _served(self, primed: PrimedStream, skipped: list[Skipped]) -> Dispatched:
        for passed_over in skipped:
            if passed_over.reason == "ttft":  # served elsewhere, within its target
                self._saturation.sent_elsewhere(passed_over.model_id)
        return Dispatched(primed, tuple(skipped))

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
        except UpstreamError as exc:
            settled = True
            if exc.status == 429:
                hint = exc.retry_after
                breaker.failed(retry_after_s=RETRY_AFTER_S if hint is None else hint)
                return Skipped(model_id, "rate_limited")
            if exc.status in _PROVIDER_FAULTS or is_engine_fault(exc):
                breaker.failed()
                return Skipped(model_id, "provider_error" if exc.status < 500 else "unavailable")
            breaker.succeeded()  # the provider is up; the request itself is wrong
            raise EngineFailure(model_id, exc) from exc
        except EngineOverloaded:  # our own cap on requests in flight to it: busy, not broken
            return Skipped(model_id, "at_capacity")
        except EngineError as exc:
            if not is_engine_fault(exc):
                raise EngineFailure(model_id, exc) from exc
            breaker.failed()
            settled = True
            return Skipped(model_id, "unavailable")
        finally:
            if not settled:
                breaker.release()

    async def _try_local(
        self,
        attempt: Attempt,
        request: GenerationRequest,
        size: RequestSize,
        deadline: float | None,
    ) -> PrimedStream | Skipped:
        model_id, saturation = attempt.model_id, self._saturation
        state = saturation.state(model_id, attempt.headroom, size, attempt.ttft_target_s)
        if state.saturated and not attempt.past_limits:
            return Skipped(model_id, state.reason or "saturated")
        record = saturation.started(model_id, size, state)
        finished = functools.partial(saturation.finished, model_id, record)
        saw = functools.partial(saturation.saw, model_id, record)
        handed_off = False  # once the stream exists, its close() reports the finish
        try:
            engine = self._engines[model_id]
            primed = await start_generation(
                engine, request, model_id, finished, deadline=deadline, on_chunk=saw
            )
            saturation.first_token(model_id, record)
            handed_off = True
            return primed
        except EngineOverloaded:
            saturation.refused(model_id)
            return Skipped(model_id, "backpressure")
        except EngineError as exc:  # a fault before the first byte: fail over
            if not is_engine_fault(exc):
                raise EngineFailure(model_id, exc) from exc
            return Skipped(model_id, "unavailable")
        finally:
            if not handed_off:  # also on cancellation (the client left while waiting)
                finished()


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
