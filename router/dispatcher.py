"""Dispatcher: walk one ranked decision until a model takes the request.

Order: the decision's choice, then its other local models in rank order, then its
other external providers in rank order (overflow stays on the cluster while it can). A
local model that the saturation view calls saturated, or whose bounded Ray Serve queue
refuses, is skipped at once; an
external provider whose circuit is open is skipped; a model that fails before its first
chunk is skipped (failover). A client error (4xx, including a provider's own 4xx) is the
answer and is not retried elsewhere. When nothing takes the request the client gets a
429 with ``Retry-After`` within milliseconds, never a queue timeout. Once the first chunk
is out, a failure ends the stream with an error event (``router.api``), no retry.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from router.dispatch import PrimedStream, start_generation
from router.errors import ApiError, Overloaded, ServiceUnavailable, UpstreamRejected
from router.load.circuit_breaker import CircuitBreaker
from router.load.saturation import SaturationView
from router.routing.decision import Decision
from serving.engine import Engine, GenerationRequest

RETRY_AFTER_S = 1
_FAILURES = frozenset({"unavailable", "circuit_open"})


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
    ) -> None:
        self._engines, self._saturation, self._breakers = engines, saturation, breakers

    async def dispatch(
        self, decision: Decision, request: GenerationRequest, *, sheddable: bool = False
    ) -> Dispatched:
        """``sheddable``: the key's requests go first when the fleet is busy: a local
        model counts as saturated for them at half its queue limit, and they never
        overflow to a paid provider."""
        chosen, *others = [r.model_id for r in decision.ranked]
        order = [chosen] + [m for m in others if m not in self._breakers]
        if not sheddable:
            order += [m for m in others if m in self._breakers]
        skipped: list[Skipped] = []
        for model_id in order:
            outcome = await self._try(model_id, request, sheddable)
            if isinstance(outcome, PrimedStream):
                return Dispatched(outcome, tuple(skipped))
            skipped.append(outcome)
        raise self._nothing_free(skipped)

    async def _try(
        self, model_id: str, request: GenerationRequest, sheddable: bool
    ) -> PrimedStream | Skipped:
        breaker = self._breakers.get(model_id)
        if breaker is None:
            return await self._try_local(model_id, request, sheddable)
        if not breaker.allow():
            return Skipped(model_id, "circuit_open")
        try:
            primed = await start_generation(self._engines[model_id], request, model_id)
        except UpstreamRejected as exc:
            if exc.status != 429:
                raise  # the client's own error: passed back, not retried
            breaker.failed(retry_after_s=float(exc.headers.get("Retry-After", RETRY_AFTER_S)))
            return Skipped(model_id, "rate_limited")
        except ServiceUnavailable:
            breaker.failed()
            return Skipped(model_id, "unavailable")
        except Overloaded:  # our own cap on requests in flight to it: busy, not broken
            return Skipped(model_id, "at_capacity")
        breaker.succeeded()
        return primed

    async def _try_local(
        self, model_id: str, request: GenerationRequest, sheddable: bool
    ) -> PrimedStream | Skipped:
        state = self._saturation.state(model_id, headroom=0.5 if sheddable else 1.0)
        if state.saturated:
            return Skipped(model_id, state.reason or "saturated")
        self._saturation.started(model_id)
        finished = functools.partial(self._saturation.finished, model_id)
        try:
            return await start_generation(self._engines[model_id], request, model_id, finished)
        except Overloaded:
            finished()
            self._saturation.refused(model_id)
            return Skipped(model_id, "backpressure")
        except ServiceUnavailable:
            finished()
            return Skipped(model_id, "unavailable")
        except ApiError:
            finished()
            raise

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
