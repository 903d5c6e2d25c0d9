"""The OpenAI-compatible HTTP API, built as a plain FastAPI app from typed parts.

Ray Serve hosts it (``router.http.ingress``), but nothing here imports Ray: the same app runs
in tests against in-process engines.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from router.auth import ApiKeyAuth, Caller
from router.decision_log import log_decision, log_refusal
from router.dispatch.dispatcher import Dispatched, Dispatcher
from router.dispatch.primed_stream import PrimedStream
from router.errors import ApiError, InternalError, ModelNotFound, ServiceUnavailable
from router.http.body_limit import BodySizeLimit
from router.http.error_handlers import install_error_handlers
from router.http.json_body import StrictJsonRoute
from router.http.openai_types import ChatCompletionRequest, CompletionRequest, SamplingFields
from router.http.responses import (
    CHAT,
    COMPLETION,
    SSE_DONE,
    ApiShape,
    StreamRenderer,
    full_response,
    sse_error,
)
from router.http.translate import chat_request, completion_request
from router.load.poller import LoadPoller
from router.load.rate_limit import RateLimiter
from router.metrics.router_metrics import RouterMetrics, ServedBy, StreamMeter
from router.model_cards import ModelCard
from router.policy_config import Knob
from router.routing.decision import Decision
from router.routing.facts import RequestFacts
from router.routing.pipeline import RoutingPipeline
from router.routing.scorers.cost import EXPECTED_COMPLETION_TOKENS
from serving.engine import Engine, GenerationRequest

READINESS_TIMEOUT_S = 2.0
logger = logging.getLogger(__name__)
Body = TypeVar("Body", bound=SamplingFields)


@dataclass(frozen=True)
class RouterContext:
    engines: Mapping[str, Engine]
    pipeline: RoutingPipeline
    dispatcher: Dispatcher
    poller: LoadPoller
    limiter: RateLimiter
    aliases: Mapping[str, Knob | None]  # alias -> the knob it carries
    auth: ApiKeyAuth
    model_cards: tuple[ModelCard, ...]
    max_body_bytes: int
    metrics: RouterMetrics
    decisions: Executor  # the threads that count tokens and decide
    log_prompts: bool = False


def build_api(ctx: RouterContext) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Load polling lives as long as the app: Serve and uvicorn both run the lifespan.
        ctx.poller.start()
        yield
        await ctx.poller.stop()

    # No /docs, /redoc or public schema: the schema is served to callers with a key.
    app = FastAPI(
        title="Switchboard",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.router.route_class = StrictJsonRoute
    app.add_middleware(BodySizeLimit, max_bytes=ctx.max_body_bytes)
    install_error_handlers(app)

    def authenticate(authorization: Annotated[str | None, Header()] = None) -> Caller:
        return ctx.auth.check(authorization)

    authed = [Depends(authenticate)]

    @app.post("/v1/chat/completions")
    async def chat_completions(
        body: ChatCompletionRequest,
        caller: Annotated[Caller, Depends(authenticate)],
        http: Request,
    ) -> Response:
        return await _complete(ctx, _Call(body, caller, http), CHAT, chat_request)

    @app.post("/v1/completions")
    async def completions(
        body: CompletionRequest, caller: Annotated[Caller, Depends(authenticate)], http: Request
    ) -> Response:
        return await _complete(ctx, _Call(body, caller, http), COMPLETION, completion_request)

    @app.get("/v1/models")
    async def list_models(caller: Annotated[Caller, Depends(authenticate)]) -> dict[str, Any]:
        cards = [c.entry for c in ctx.model_cards if c.visible_to(caller.policy)]
        return {"object": "list", "data": cards}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(
        model_id: str, caller: Annotated[Caller, Depends(authenticate)]
    ) -> dict[str, Any]:
        for card in ctx.model_cards:
            if card.id == model_id and card.visible_to(caller.policy):
                return card.entry
        raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")

    @app.get("/openapi.json", dependencies=authed, include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        return await _readiness(ctx.engines, ctx.poller)

    return app


@dataclass(frozen=True)
class _Call(Generic[Body]):
    body: Body
    caller: Caller
    http: Request


async def _complete(
    ctx: RouterContext,
    call: _Call[Body],
    shape: ApiShape,
    translate: Callable[[Body, str], GenerationRequest],
) -> Response:
    started = ctx.metrics.clock()
    request_id = uuid.uuid4().hex
    body = call.body
    request = translate(body, request_id)
    facts = RequestFacts.of_request(
        body, request, caller=call.caller, headers=_joined(call.http.headers), aliases=ctx.aliases
    )
    decision: Decision | None = None
    try:
        # Cheap refusals first: a key out of budget even for the prompt's least possible
        # size never costs an exact count.
        floor = ctx.pipeline.prompt_floor(request)
        ctx.limiter.check(call.caller, floor + request.sampling.n)
        # Off the event loop, in the decisions' own threads: token counting and the
        # classifier are CPU work, and /readyz must not queue behind them.
        loop = asyncio.get_running_loop()
        decision = await loop.run_in_executor(ctx.decisions, ctx.pipeline.decide, facts)
        ctx.metrics.decided(decision.decision_ms / 1000)
        reservation = ctx.limiter.admit(call.caller, _worst_case_tokens(decision, request))
    except ApiError as exc:
        log_refusal(request_id, call.caller, facts, exc)
        ctx.metrics.refused(decision, exc)
        raise
    try:
        caller = call.caller
        dispatched = await ctx.dispatcher.dispatch(decision, request, caller.name, caller.policy)
    except ApiError as exc:
        reservation.refund()
        log_decision(request_id, call.caller, facts, decision, ctx.log_prompts, outcome=exc)
        ctx.metrics.refused(decision, exc)
        raise
    log_decision(request_id, call.caller, facts, decision, ctx.log_prompts, outcome=dispatched)
    primed = dispatched.primed
    headers = _decision_headers(decision, dispatched)
    if dispatched.skipped:  # the first one skipped is the chosen model
        first = dispatched.skipped[0]
        ctx.metrics.overflowed(first.model_id, first.reason, primed.model_id)
    route = headers["x-switchboard-route"]
    served = ServedBy(request_id, call.caller.name, primed.model_id, route)
    meter = ctx.metrics.meter(served, started, on_finish=reservation.settle)
    if not body.stream:
        try:
            chunks = [meter.saw(chunk) async for chunk in primed.chunks()]
        except ApiError:
            meter.finish("stream_error")
            raise
        except asyncio.CancelledError:  # the client left before the whole answer
            meter.finish("cancelled")
            raise
        meter.finish("ok")
        payload = full_response(shape, primed.model_id, request_id, chunks)
        return JSONResponse(payload, headers=headers)
    renderer = StreamRenderer(shape, primed.model_id, request_id, body.include_usage())
    return _PrimedStreamingResponse(
        primed,
        meter,
        _sse(primed, renderer, meter),
        media_type="text/event-stream",
        headers=headers,
    )


class _PrimedStreamingResponse(StreamingResponse):
    """Closes the generation however the response ends: Starlette does not close the
    body iterator when the client leaves, and the engine slot and the router's in-flight
    count must not wait for garbage collection. A stream that did not reach its end
    was abandoned by the client, and is metered as such."""

    def __init__(
        self,
        primed: PrimedStream,
        meter: StreamMeter,
        content: AsyncIterator[bytes],
        **kwargs: Any,
    ) -> None:
        super().__init__(content, **kwargs)
        self._primed, self._meter = primed, meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._meter.finish("cancelled")  # no-op when the stream already ended
            await self._primed.close()


async def _sse(
    primed: PrimedStream, renderer: StreamRenderer, meter: StreamMeter
) -> AsyncIterator[bytes]:
    """The SSE body: events, then exactly one ``[DONE]``; a failure after the first byte
    ends the stream with an OpenAI error event instead of a silent cut."""
    try:
        async for chunk in primed.chunks():
            yield renderer.encode(meter.saw(chunk))
        meter.finish("ok")
    except ApiError as exc:
        meter.finish("stream_error")
        yield sse_error(exc)
    except Exception:  # a bug; the status line is already sent, so say it in-band
        logger.exception("stream %s failed", primed.model_id)
        meter.finish("stream_error")
        yield sse_error(InternalError("The server failed while streaming the response."))
    yield SSE_DONE


def _worst_case_tokens(decision: Decision, request: GenerationRequest) -> int:
    """What the request may cost its key at most: the prompt, and every choice using its
    whole completion budget (an estimate where nothing bounds it; settled afterwards)."""
    budget = decision.completion_budget or EXPECTED_COMPLETION_TOKENS
    return (decision.prompt_tokens or 0) + request.sampling.n * budget


def _joined(headers: Headers) -> dict[str, str]:
    """Lower-cased names -> every copy's value, comma-joined as HTTP combines repeated
    fields: a policy header sent twice is read whole, not by its first copy."""
    return {name: ", ".join(headers.getlist(name)) for name in set(headers.keys())}


def _decision_headers(decision: Decision, dispatched: Dispatched) -> dict[str, str]:
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


async def _readiness(engines: Mapping[str, Engine], poller: LoadPoller) -> dict[str, Any]:
    async def probe(engine: Engine) -> str:
        try:
            await asyncio.wait_for(engine.check_health(), READINESS_TIMEOUT_S)
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            return f"not ready: {type(exc).__name__}"
        return "ready"

    states = await asyncio.gather(*(probe(engine) for engine in engines.values()))
    models = dict(zip(engines, states, strict=True))
    for model_id in poller.model_ids:
        if models[model_id] == "ready" and poller.load(model_id) is None:
            models[model_id] = "not ready: no load stats yet"  # it would count as saturated
    not_ready = [model_id for model_id, state in models.items() if state != "ready"]
    if not_ready:
        raise ServiceUnavailable(f"models not ready: {', '.join(not_ready)}")
    return {"status": "ready", "models": models}
