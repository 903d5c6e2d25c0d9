"""The narrow engine interface every model backend implements.

The router treats the transformers engine, the vLLM engine, the external-provider engine
and a Ray Serve deployment handle alike through this protocol: ``generate`` streams
chunks, ``stats`` reports timestamped load, ``check_health`` raises when the engine
cannot serve. Everything crossing it is plain, frozen, picklable data, because it travels
through Ray Serve handles between processes.
"""

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class SamplingOptions:
    """Decoding parameters, already validated and defaulted by the router."""

    max_tokens: int | None = None  # None: up to the model's context window
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    n: int = 1
    stop: tuple[str, ...] = ()
    # Optional adjustments (vLLM's names and ranges); an engine lists those it honours.
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0

    def adjustments(self) -> dict[str, float]:
        """The optional adjustments set away from their neutral value, by name."""
        return {
            name: getattr(self, name)
            for name, neutral in NEUTRAL_ADJUSTMENTS.items()
            if getattr(self, name) != neutral
        }


NEUTRAL_ADJUSTMENTS: Mapping[str, float] = {
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "repetition_penalty": 1.0,
    "top_k": 0,
    "min_p": 0.0,
}


@dataclass(frozen=True)
class ChatPrompt:
    """OpenAI chat messages, rendered by the engine with the model's own chat template."""

    # Messages stay mappings here: chat templates consume exactly this shape.
    messages: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class TextPrompt:
    """A raw completion prompt (``/v1/completions``), tokenized without a template."""

    text: str


@dataclass(frozen=True)
class JsonOutput:
    """Constrain the output to JSON: any JSON object, or one matching ``schema``."""

    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ToolUse:
    """Tools the model may call. ``choice``: "none", "auto", "required", or the name of
    the one function it must call."""

    tools: tuple[Mapping[str, Any], ...]  # OpenAI tool definitions, as sent
    choice: str = "auto"
    parallel: bool = True  # OpenAI `parallel_tool_calls`: more than one call per answer


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt: ChatPrompt | TextPrompt
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    json_output: JsonOutput | None = None  # engines that cannot guarantee it must refuse
    tool_use: ToolUse | None = None  # engines without tool calling must refuse
    # Request fields nothing here models, as the client sent them: an external provider
    # gets them unchanged; a local model is not chosen unless they change nothing.
    passthrough: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of one tool call: the first fragment of a call carries ``id`` and
    ``name``, later ones only more ``arguments`` (a JSON text, streamed in pieces)."""

    index: int  # the call's position within its choice
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ChoiceDelta:
    """New output for one of the ``n`` choices; ``finish_reason`` is set on its last delta."""

    index: int
    text: str
    finish_reason: FinishReason | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()


@dataclass(frozen=True)
class GenerationChunk:
    """One streamed step. The final chunk of a generation carries ``usage``."""

    deltas: tuple[ChoiceDelta, ...] = ()
    usage: Usage | None = None


@dataclass(frozen=True)
class EngineStats:
    """Load of one engine at ``timestamp`` (``time.time()`` seconds).

    Consumers judge freshness from the timestamp: stale load must count as saturated.
    """

    timestamp: float
    running: int
    waiting: int
    kv_cache_usage: float | None = None  # 0..1 where the engine has a KV cache pool
    max_running: int | None = None  # how many it runs at once (batch size), when fixed
    # Requests pushed out of the KV cache to make room since the engine started, where the
    # engine preempts (vLLM): each one recomputes its prompt when it resumes.
    preemptions: int | None = None


@runtime_checkable
class Engine(Protocol):
    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        """Stream the generation; raise an ``EngineError`` before the first chunk if the
        request cannot be served (e.g. the prompt does not fit the context window)."""
        ...

    async def stats(self) -> EngineStats: ...

    async def check_health(self) -> None:
        """Return when healthy; raise otherwise."""
        ...
