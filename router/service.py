"""One request through the router, however it arrived: translate it, decide where it goes
(off the event loop), admit it against its key's token budget, dispatch it, and meter
what comes back. Nothing here knows HTTP: the edge (``router.http.api``) parses the body
and renders the ``Served`` stream. This is where the service meets its callers, so a
routing refusal or a dispatch that fails before its first chunk becomes an ``ApiError``
here (``router.error_mapping``); one that fails after it, in the stream renderer.
"""

import asyncio
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from router.auth import ApiKeyAuth, Caller
from router.decision_log import log_decision, log_refusal
from router.dispatch.dispatcher import Dispatched, Dispatcher
from router.dispatch.failures import DispatchFailure
from router.dispatch.primed_stream import PrimedStream
from router.embedding_service import EmbeddingService
from router.error_mapping import as_client_error, client_error
from router.errors import ApiError
from router.load.poller import LoadPoller
from router.load.rate_limit import RateLimiter
from router.load.spend import SpendGuard
from router.metrics.router_metrics import RouterMetrics, ServedBy, StreamMeter
from router.model_cards import ModelCard
from router.openai_types import SamplingFields
from router.policy_config import Knob, PolicySettings
from router.routing.decision import Decision
from router.routing.facts import RequestFacts
from router.routing.pipeline import RoutingPipeline
from router.routing.scorers.cost import EXPECTED_COMPLETION_TOKENS
from router.routing.tokens import prompt_chars
from serving.embedding import Embedder
from serving.engine import Engine, GenerationRequest

Body = TypeVar("Body", bound=SamplingFields)
# Prompts up to this many characters (about a thousand tokens), without tools, are decided
# on the event loop (``_decide``).
INLINE_DECISION_CHARS = 4096


@dataclass(frozen=True)
class RequestService:
    """What runs one request, however it arrived: routing, admission, dispatch, metering
    (assembled by ``router.wiring``)."""

    pipeline: RoutingPipeline
    dispatcher: Dispatcher
    limiter: RateLimiter
    aliases: Mapping[str, Knob | None]  # alias -> the knob it carries
    policy: PolicySettings  # the router's own request headers and the knob's presets
    metrics: RouterMetrics
    decisions: Executor  # the threads that count tokens and decide
    log_prompts: bool = False


@dataclass
class RouterContext:
    """A router replica: the request service, and what only its HTTP edge uses. A live
    policy change (``router.wiring.apply_live_policy``) replaces ``service`` and
    ``model_cards`` whole, so a request keeps the ones it started with."""

    service: RequestService
    embeddings: EmbeddingService
    engines: Mapping[str, Engine | Embedder]  # every serving model, for readiness
    poller: LoadPoller
    auth: ApiKeyAuth
    spend: SpendGuard  # its per-key budgets follow live policy changes
    model_cards: tuple[ModelCard, ...]
    max_body_bytes: int


@dataclass(frozen=True)
class Served:
    """A request on its way back: the first chunk is in hand, so it will be answered."""

    request_id: str
    primed: PrimedStream
    meter: StreamMeter  # the stream's end must reach it (it settles the key's tokens)
    route: dict[str, str]  # x-switchboard-* response headers: model, route, overflow


async def serve(
    ctx: RequestService,
    body: Body,
    caller: Caller,
    headers: Mapping[str, str],
    translate: Callable[[Body, str], GenerationRequest],
) -> Served:
    """``headers``: lower-cased names -> values (repeated ones comma-joined)."""
    started = ctx.metrics.clock()
    request_id = uuid.uuid4().hex
    request = translate(body, request_id)
    decision: Decision | None = None
    try:
        with as_client_error():
            facts = RequestFacts.of_request(
                body,
                request,
                caller=caller,
                headers=headers,
                aliases=ctx.aliases,
                policy=ctx.policy,
            )
            # Cheap refusals first: a key out of budget even for the prompt's least
            # possible size never costs an exact count.
            floor = ctx.pipeline.prompt_floor(request)
            ctx.limiter.check(caller, floor + request.sampling.n)
            decision = await _decide(ctx, facts)
            ctx.metrics.decided(decision.decision_ms / 1000)
            reservation = ctx.limiter.admit(caller, _worst_case_tokens(decision, request))
    except ApiError as exc:
        log_refusal(request_id, caller, body.model, exc)
        ctx.metrics.refused(decision, exc)
        raise
    try:
        dispatched = await ctx.dispatcher.dispatch(decision, request, caller.name, caller.policy)
    except DispatchFailure as exc:
        reservation.refund()
        error = client_error(exc)
        log_decision(request_id, caller, facts, decision, ctx.log_prompts, outcome=error)
        ctx.metrics.refused(decision, error)
        raise error from exc
    log_decision(request_id, caller, facts, decision, ctx.log_prompts, outcome=dispatched)
    primed = dispatched.primed
    route = _route_headers(decision, dispatched)
    if dispatched.skipped:  # the first one skipped is the chosen model
        first = dispatched.skipped[0]
        ctx.metrics.overflowed(first.model_id, first.reason, primed.model_id)
    served = ServedBy(request_id, caller.name, primed.model_id, route["x-switchboard-route"])
    meter = ctx.metrics.meter(served, started, on_finish=reservation.settle)
    return Served(request_id, primed, meter, route)


async def _decide(ctx: RequestService, facts: RequestFacts) -> Decision:
    """Token counting and the classifier are CPU work that grows with the prompt: a long
    one, or one with tools (their schemas are rendered into the counted prompt, whatever
    their size), is decided in the decisions' own threads, so /readyz never queues
    behind it; a short one (well under a millisecond) on the event loop, where the hop to
    a thread and back would cost more than the decision (``bench/profile_hot_path.py``)."""
    request = facts.generation
    if request.tool_use is None and prompt_chars(request) <= INLINE_DECISION_CHARS:
        return ctx.pipeline.decide(facts)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(ctx.decisions, ctx.pipeline.decide, facts)


def _worst_case_tokens(decision: Decision, request: GenerationRequest) -> int:
    """What the request may cost its key at most: the prompt, and every choice using its
    whole completion budget (an estimate where nothing bounds it; settled afterwards)."""
    budget = decision.completion_budget or EXPECTED_COMPLETION_TOKENS
    return (decision.prompt_tokens or 0) + request.sampling.n * budget


def _route_headers(decision: Decision, dispatched: Dispatched) -> dict[str, str]:
    # No x-request-id here: Ray Serve's proxy already sets one on every response.
    headers = {
        "x-switchboard-model": dispatched.primed.model_id,
        "x-switchboard-route": "overflow" if dispatched.skipped else decision.route,
        "x-switchboard-decision-ms": f"{decision.decision_ms:.2f}",
    }
    if dispatched.skipped:
        skipped = ",".join(f"{s.model_id}={s.reason}" for s in dispatched.skipped)
        headers["x-switchboard-overflow"] = skipped
    return headers
