"""The OpenAI-compatible HTTP API, built as a plain FastAPI app from typed parts.

Ray Serve hosts it (``router.http.ingress``), but nothing here imports Ray: the same app runs
in tests against in-process engines.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers

from router.auth import Caller
from router.embedding_service import ROUTE, embed
from router.errors import ModelNotFound, ServiceUnavailable
from router.http.body_limit import BodySizeLimit
from router.http.embedding_response import embedding_body
from router.http.error_handlers import install_error_handlers
from router.http.json_body import StrictJsonRoute
from router.http.responses import CHAT, COMPLETION, ApiShape
from router.http.streaming import event_stream, whole_response
from router.http.translate import chat_request, completion_request
from router.load.poller import LoadPoller
from router.openai_types import ChatCompletionRequest, CompletionRequest, EmbeddingsRequest
from router.service import Body, RouterContext, serve
from serving.embedding import Embedder
from serving.engine import Engine, GenerationRequest

READINESS_TIMEOUT_S = 2.0


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

    # Async: FastAPI would run a plain function in a worker thread, a hop per request
    # that costs more than the check (a hash and a lookup).
    async def authenticate(authorization: Annotated[str | None, Header()] = None) -> Caller:
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

    @app.post("/v1/embeddings")
    async def embeddings(
        body: EmbeddingsRequest, caller: Annotated[Caller, Depends(authenticate)]
    ) -> Response:
        embedded = await embed(ctx.embeddings, body, caller)
        payload = embedding_body(embedded.embeddings, embedded.model_id, body.encoding_format)
        route = {"x-switchboard-model": embedded.model_id, "x-switchboard-route": ROUTE}
        return JSONResponse(payload, headers=route)

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
    headers = _joined(call.http.headers)
    served = await serve(ctx.service, call.body, call.caller, headers, translate)
    if not call.body.stream:
        return await whole_response(served, shape)
    return event_stream(served, shape, call.body.include_usage())


def _joined(headers: Headers) -> dict[str, str]:
    """Lower-cased names -> every copy's value, comma-joined as HTTP combines repeated
    fields: a policy header sent twice is read whole, not by its first copy."""
    return {name: ", ".join(headers.getlist(name)) for name in set(headers.keys())}


async def _readiness(
    engines: Mapping[str, Engine | Embedder], poller: LoadPoller
) -> dict[str, Any]:
    async def probe(engine: Engine | Embedder) -> str:
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
