"""OpenAI request bodies -> engine ``GenerationRequest``s.

One named check per field we model but cannot honour yet, so a client gets a 400 naming
the parameter instead of an answer that silently ignored it.
"""

from typing import Any

from router.errors import InvalidRequest
from router.openai_types import (
    MAX_STOP_SEQUENCES,
    ChatCompletionRequest,
    CompletionRequest,
    SamplingFields,
)
from serving.engine import ChatPrompt, GenerationRequest, JsonOutput, TextPrompt, ToolUse


def chat_request(body: ChatCompletionRequest, request_id: str) -> GenerationRequest:
    _check_sampling(body)
    if body.logprobs:
        raise InvalidRequest("`logprobs` is not supported.", param="logprobs")
    unknown = set().union(*(m.part_types() for m in body.messages)) - {"text", "image_url"}
    if unknown:
        raise InvalidRequest(
            f"Content parts of type {', '.join(sorted(unknown))} are not supported "
            "(text and image_url are).",
            param="messages",
        )
    prompt = ChatPrompt(messages=tuple(m.template_view() for m in body.messages))
    sampling = body.sampling(body.requested_max_tokens())
    return GenerationRequest(
        request_id=request_id,
        prompt=prompt,
        sampling=sampling,
        json_output=json_output(body.response_format),
        tool_use=tool_use(body.tools, body.tool_choice, body.parallel_tool_calls is not False),
        passthrough=body.passthrough(),
    )


def tool_use(
    tools: list[dict[str, Any]] | None,
    choice: str | dict[str, Any] | None,
    parallel: bool = True,
) -> ToolUse | None:
    """OpenAI ``tools`` / ``tool_choice`` -> the engine's ``ToolUse`` (None: no tools)."""
    if not tools:
        if choice not in (None, "none"):
            raise InvalidRequest("`tool_choice` needs `tools`.", param="tool_choice")
        return None
    names = [_function_name(tool) for tool in tools]
    if choice is None or choice in ("none", "auto", "required"):
        return ToolUse(tools=tuple(tools), choice=choice or "auto", parallel=parallel)
    function = choice.get("function") if isinstance(choice, dict) else None
    named = function.get("name") if isinstance(function, dict) else None
    if named not in names:
        raise InvalidRequest(
            f"`tool_choice` names {named!r}, which is not one of the tools ({', '.join(names)}).",
            param="tool_choice",
        )
    return ToolUse(tools=tuple(tools), choice=named, parallel=parallel)


def _function_name(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if tool.get("type") != "function" or not isinstance(name, str) or not name:
        raise InvalidRequest(
            "Each tool must be {'type': 'function', 'function': {'name': ...}}.", param="tools"
        )
    return name


def json_output(response_format: dict[str, Any] | None) -> JsonOutput | None:
    """OpenAI ``response_format`` -> the engine's JSON constraint (None: free text)."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonOutput()
    if kind == "json_schema":
        spec = (response_format or {}).get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "response_format json_schema needs json_schema.schema (an object).",
                param="response_format",
            )
        return JsonOutput(schema=schema)
    raise InvalidRequest(
        "response_format.type must be one of text, json_object, json_schema.",
        param="response_format",
    )


def completion_request(body: CompletionRequest, request_id: str) -> GenerationRequest:
    _check_sampling(body)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise InvalidRequest(
            "`prompt` must be one string (batches are not supported).", param="prompt"
        )
    if body.echo:
        raise InvalidRequest("`echo` is not supported.", param="echo")
    if body.logprobs is not None:
        raise InvalidRequest("`logprobs` is not supported.", param="logprobs")
    if body.suffix:
        raise InvalidRequest("`suffix` is not supported.", param="suffix")
    if body.best_of is not None and body.best_of != (body.n or 1):
        raise InvalidRequest("`best_of` other than `n` is not supported.", param="best_of")
    sampling = body.sampling(body.max_tokens)
    return GenerationRequest(
        request_id=request_id,
        prompt=TextPrompt(prompts[0]),
        sampling=sampling,
        passthrough=body.passthrough(),
    )


def _check_sampling(body: SamplingFields) -> None:
    if len(body.stop_sequences()) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(
            f"`stop` accepts at most {MAX_STOP_SEQUENCES} sequences.", param="stop"
        )
    if body.stream_options is not None and not body.stream:
        raise InvalidRequest(
            "`stream_options` is only allowed with `stream: true`.", param="stream_options"
        )
