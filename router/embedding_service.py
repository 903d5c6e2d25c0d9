"""One embeddings request, however it arrived: check the model it names and the key,
admit it against the key's token budget, ask that model's embedder, meter what it used.
Nothing here knows HTTP: the edge (``router.http.api``) parses the body and renders the
vectors. Failures become ``ApiError``s here, as in ``router.service`` for completions."""

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from router.auth import Caller
from router.decision_log import log_refusal
from router.error_mapping import as_client_error, engine_error
from router.errors import ApiError, GenerationTimeout, InvalidRequest
from router.load.rate_limit import RateLimiter
from router.metrics.router_metrics import RouterMetrics, ServedBy
from router.openai_types import EmbeddingsRequest
from router.routing.embedding_route import EmbeddingRoute
from serving.embedding import Embedder, EmbeddingInput, EmbeddingRequest, Embeddings
from serving.engine import GenerationChunk, Usage
from serving.errors import EngineError

ROUTE = "pinned"  # the x-switchboard-route of every embeddings request: the model named


@dataclass(frozen=True)
class EmbeddingService:
    route: EmbeddingRoute
    embedders: Mapping[str, Embedder]  # by model id
    limiter: RateLimiter
    metrics: RouterMetrics
    timeout_s: float  # ``router.request_timeout_s``


@dataclass(frozen=True)
class Embedded:
    request_id: str
    model_id: str
    embeddings: Embeddings


async def embed(service: EmbeddingService, body: EmbeddingsRequest, caller: Caller) -> Embedded:
    started = service.metrics.clock()
    request_id = uuid.uuid4().hex
    inputs = body.inputs()
    try:
        with as_client_error():
            target = service.route.target(body.model, caller.policy)
            most = sum(min(_most_tokens(item), target.context_window) for item in inputs)
            reservation = service.limiter.admit(caller, most)
    except ApiError as exc:
        log_refusal(request_id, caller, body.model, exc)
        service.metrics.refused(None, exc)
        raise
    try:
        embeddings = await _embed(service, target.id, EmbeddingRequest(request_id, inputs))
        if body.dimensions not in (None, embeddings.dimensions):
            raise InvalidRequest(
                f"Model '{target.id}' returns {embeddings.dimensions} dimensions and cannot "
                "return others.",
                param="dimensions",
            )
    except ApiError as exc:
        reservation.refund()
        log_refusal(request_id, caller, body.model, exc)
        service.metrics.refused(None, exc)
        raise
    except asyncio.CancelledError:  # the client left: nothing was served
        reservation.refund()
        raise
    served = ServedBy(request_id, caller.name, target.id, ROUTE)
    meter = service.metrics.meter(served, started, on_finish=reservation.settle)
    meter.saw(GenerationChunk(usage=Usage(embeddings.prompt_tokens, 0)))
    meter.finish("ok")
    return Embedded(request_id, target.id, embeddings)


async def _embed(service: EmbeddingService, model_id: str, request: EmbeddingRequest) -> Embeddings:
    try:
        async with asyncio.timeout(service.timeout_s):
            return await service.embedders[model_id].embed(request)
    except EngineError as exc:
        raise engine_error(exc, model_id, prompt="input") from exc
    except TimeoutError as exc:
        message = "The request ran past the request timeout and was stopped."
        raise GenerationTimeout(message) from exc


def _most_tokens(item: EmbeddingInput) -> int:
    """An upper bound of the tokens an input becomes, before any tokenizer reads it: a
    token covers at least one byte of UTF-8, plus a few special tokens."""
    return len(item.encode("utf-8")) + 4 if isinstance(item, str) else len(item)
