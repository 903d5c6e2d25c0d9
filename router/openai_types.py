"""OpenAI request bodies, owned here rather than imported from vLLM (its protocol module
moves between versions).

Unknown fields of a completion are accepted (``extra="allow"``): real clients send
fields we do not model. None of them is dropped: they travel with the request (``passthrough``), an
external provider gets them unchanged, and routing chooses a local model only where they
change nothing (``router.routing.filters.request_fields``). Fields we model but cannot
honour are rejected with a named 400 (``router.http.translate``).
"""

from typing import Annotated, Any, Literal, cast

import pydantic_core
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from serving.embedding import EmbeddingInput
from serving.engine import SamplingOptions

MAX_N = 16
MAX_STOP_SEQUENCES = 4


class OpenAIModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(OpenAIModel):
    type: str
    text: str | None = None


class ChatMessage(OpenAIModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def template_view(self) -> dict[str, Any]:
        """The shape chat templates expect: text parts joined into one string."""
        content: Any = self.content
        if isinstance(content, list) and self.has_non_text_parts():
            # Only vision models get here (the router filters the rest out): keep the parts.
            content = [part.model_dump(exclude_none=True) for part in content]
        elif isinstance(content, list):
            content = "".join(part.text or "" for part in content if part.type == "text")
        # Templates know "system", not the newer "developer" (Qwen's drops it silently).
        role = "system" if self.role == "developer" else self.role
        message: dict[str, Any] = {"role": role, "content": content or ""}
        # Tool turns of a multi-turn conversation, as chat templates expect them.
        extra = self.model_extra or {}
        for key in ("name", "tool_calls", "tool_call_id"):
            value = self.name if key == "name" else extra.get(key)
            if value is not None:
                message[key] = value
        if isinstance(message.get("tool_calls"), list):
            message["tool_calls"] = [_decoded_arguments(c) for c in message["tool_calls"]]
        return message

    def has_non_text_parts(self) -> bool:
        return isinstance(self.content, list) and any(p.type != "text" for p in self.content)

    def part_types(self) -> set[str]:
        return {p.type for p in self.content} if isinstance(self.content, list) else set()


def _decoded_arguments(call: Any) -> Any:
    """OpenAI sends a call's arguments as a JSON string; chat templates render them as an
    object (a string would come out double-encoded)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    try:
        # jiter: a lone surrogate or nesting past its depth limit is not valid here either.
        arguments = pydantic_core.from_json(function["arguments"])
    except ValueError:
        return call
    return {**call, "function": {**function, "arguments": arguments}}


class StreamOptions(OpenAIModel):
    include_usage: bool = False


class SamplingFields(OpenAIModel):
    """Fields shared by chat and text completions."""

    model: str = Field(min_length=1, max_length=256)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), lt=2**64)
    user: str | None = None
    metadata: dict[str, str] | None = None  # routing rules may match on it
    # Honoured by engines that list them (vLLM), passed on to providers; vLLM's ranges.
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0, le=1e6)
    top_k: int | None = Field(None, ge=-1, le=2**31 - 1)
    min_p: float | None = Field(None, ge=0, le=1)

    def has_images(self) -> bool:
        return False

    def stop_sequences(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(s for s in stops if s)

    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def sampling(self, max_tokens: int | None) -> SamplingOptions:
        return SamplingOptions(
            max_tokens=max_tokens,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            seed=self.seed,
            n=self.n or 1,
            stop=self.stop_sequences(),
            frequency_penalty=self.frequency_penalty or 0.0,
            presence_penalty=self.presence_penalty or 0.0,
            repetition_penalty=1.0 if self.repetition_penalty is None else self.repetition_penalty,
            top_k=max(self.top_k or 0, 0),  # -1 and 0 both mean off
            min_p=self.min_p or 0.0,
        )

    def passthrough(self) -> dict[str, Any]:
        """The fields nothing here models, as sent; a null one is unset."""
        return {
            name: value for name, value in (self.model_extra or {}).items() if value is not None
        }


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None

    def has_images(self) -> bool:
        return any("image_url" in message.part_types() for message in self.messages)

    def requested_max_tokens(self) -> int | None:
        # max_completion_tokens supersedes the deprecated max_tokens in the OpenAI API.
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | list[str]
    echo: bool | None = None
    logprobs: int | None = None
    suffix: str | None = None
    best_of: int | None = None


MAX_EMBEDDING_INPUTS = 2048  # per request, as the OpenAI API allows
_INPUT_SHAPES = (
    "a non-empty string, a list of token ids (integers from 0), or a list of 1 to "
    f"{MAX_EMBEDDING_INPUTS} of one or the other"
)


def _embedding_input(value: Any) -> Any:
    """One clear error for an input of no accepted shape (a union's errors name none)."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and value and all(_is_token_id(i) for i in value):
        items = [value]  # one input of token ids
    mixed = len({isinstance(item, str) for item in items}) > 1
    if mixed or not 1 <= len(items) <= MAX_EMBEDDING_INPUTS or not all(map(_is_input, items)):
        raise ValueError(f"input must be {_INPUT_SHAPES}")
    return value


def _is_input(item: Any) -> bool:
    if isinstance(item, str):
        return bool(item)
    return isinstance(item, list) and bool(item) and all(_is_token_id(i) for i in item)


def _is_token_id(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0


class EmbeddingsRequest(BaseModel):
    """``/v1/embeddings``. Only local models embed, so a field nothing here models is
    refused by name (``extra="forbid"``) rather than dropped."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    input: Annotated[
        str | list[str] | list[int] | list[list[int]], BeforeValidator(_embedding_input)
    ]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None  # the caller's end user; accepted, as OpenAI's API does

    def inputs(self) -> tuple[EmbeddingInput, ...]:
        """Each input: a text, or token ids."""
        given = self.input
        if isinstance(given, str):
            return (given,)
        if all(isinstance(item, int) for item in given):  # one input of token ids
            return (tuple(cast(list[int], given)),)
        items = cast(list[str] | list[list[int]], given)
        return tuple(item if isinstance(item, str) else tuple(item) for item in items)
