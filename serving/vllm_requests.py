"""A request in vLLM's terms: the ``SamplingParams`` it is generated with, and the vLLM
exception classes its failures are told apart by (``engine_error``).

Both differ across vLLM versions, so the names are found by feature detection; like
``serving.vllm_engine``, this module imports vLLM only inside functions.
"""

import functools
import importlib
import json
import logging
from collections.abc import Callable
from typing import Any

from serving.engine import GenerationRequest
from serving.errors import EngineError, EngineFailed, EngineOverloaded, EngineUnavailable
from serving.tool_output import output_constraint

logger = logging.getLogger(__name__)


def sampling_params(request: GenerationRequest, max_tokens: int, n: int) -> Any:
    params = importlib.import_module("vllm.sampling_params")
    sampling = request.sampling
    extra: dict[str, Any] = {}
    constraint = output_constraint(request)
    if constraint is not None:
        keyword, structured = _structured_outputs()
        # json_object=False is an error in 0.26+: set exactly one of the two.
        schema = constraint.schema
        extra[keyword] = (
            structured(json_object=True) if schema is None else structured(json=json.dumps(schema))
        )
    return params.SamplingParams(
        n=n,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=sampling.seed,
        stop=list(sampling.stop),
        max_tokens=max_tokens,
        output_kind=params.RequestOutputKind.DELTA,
        **sampling.adjustments(),
        **extra,
    )


@functools.cache
def _structured_outputs() -> tuple[str, Callable[..., Any]]:
    """The ``SamplingParams`` keyword and parameter class of constrained decoding."""
    params = importlib.import_module("vllm.sampling_params")
    if hasattr(params, "StructuredOutputsParams"):
        # vLLM >= 0.11, including 0.26 and 0.32 (read in their sources):
        # SamplingParams(structured_outputs=StructuredOutputsParams(json=... | json_object=True)).
        return "structured_outputs", params.StructuredOutputsParams
    # Before 0.11 (removed in 0.12): SamplingParams(guided_decoding=GuidedDecodingParams(...)).
    return "guided_decoding", params.GuidedDecodingParams


class VllmErrors:
    """vLLM's exception classes ``VllmEngine`` maps, found by name across versions."""

    def __init__(self) -> None:
        exceptions = importlib.import_module("vllm.exceptions")
        self.dead: type[Exception] = importlib.import_module(
            "vllm.v1.engine.exceptions"
        ).EngineDeadError
        # 0.26 rejects a bad request with ValueError, 0.32 with VLLMClientError; the queue
        # limits (max_num_queued_reqs / _tokens) exist since 0.29.
        self.client = (*_classes(exceptions, "VLLMClientError"), ValueError)
        self.overloaded = _classes(exceptions, "QueueOverflowError", "MaxQueuedTokensError")


@functools.cache
def vllm_errors() -> VllmErrors:
    return VllmErrors()


def engine_error(
    exc: Exception, engine: Any, rejected: Callable[[str], EngineError]
) -> EngineError:
    """What a vLLM failure is in ``serving.errors`` terms; ``rejected`` words a request
    vLLM refused as invalid."""
    errors = vllm_errors()
    if isinstance(exc, errors.overloaded):
        return EngineOverloaded(str(exc))
    if isinstance(exc, errors.client):  # vLLM rejected the request itself
        return rejected(f"vLLM rejected the request: {exc}")
    if isinstance(exc, errors.dead) or getattr(engine, "errored", False):
        logger.error("vLLM engine died: %r", exc)
        return EngineUnavailable("the vLLM engine died")
    logger.exception("vLLM request failed")
    return EngineFailed(f"request failed: {type(exc).__name__}")


def _classes(module: Any, *names: str) -> tuple[type[Exception], ...]:
    return tuple(getattr(module, name) for name in names if hasattr(module, name))
