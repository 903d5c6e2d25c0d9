"""The request an external provider is sent: a ``GenerationRequest`` as an OpenAI
``chat/completions`` or ``completions`` body, always streamed with usage."""

from collections.abc import Mapping
from typing import Any

from serving.engine import ChatPrompt, GenerationRequest, SamplingOptions


def jsonable(value: object) -> object:
    # Messages are Mappings (possibly read-only proxies) and tuples: make them JSON.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def request_payload(
    request: GenerationRequest, model: str, max_tokens_field: str = "max_tokens"
) -> dict[str, Any]:
    """``max_tokens_field``: the provider's name for the completion budget."""
    options: SamplingOptions = request.sampling
    # The fields Switchboard does not model first, so that none replaces one it does.
    payload: dict[str, Any] = {**request.passthrough, "model": model, "stream": True}
    if isinstance(request.prompt, ChatPrompt):
        payload["messages"] = request.prompt.messages
    else:
        payload["prompt"] = request.prompt.text
    payload["stream_options"] = {"include_usage": True}
    if options.max_tokens is not None:
        payload[max_tokens_field] = options.max_tokens
    payload.update(temperature=options.temperature, top_p=options.top_p, n=options.n)
    payload.update(options.adjustments())
    if options.seed is not None:
        payload["seed"] = options.seed
    if options.stop:
        payload["stop"] = list(options.stop)
    return payload | _constraints(request)


def _constraints(request: GenerationRequest) -> dict[str, Any]:
    """Tools and JSON output, passed through in the OpenAI shape."""
    fields: dict[str, Any] = {}
    if request.tool_use is not None:
        name = request.tool_use.choice
        choice: str | dict[str, Any] = name
        if name not in ("none", "auto", "required"):
            choice = {"type": "function", "function": {"name": name}}
        fields |= {"tools": list(request.tool_use.tools), "tool_choice": choice}
        if not request.tool_use.parallel:
            fields["parallel_tool_calls"] = False
    if request.json_output is not None:
        schema = request.json_output.schema
        fields["response_format"] = (
            {"type": "json_object"}
            if schema is None
            else {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        )
    return fields
