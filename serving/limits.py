"""How many tokens a request may generate: one rule for every local engine."""

from serving.errors import ContextLengthExceeded, MaxTokensTooLarge

# Below this temperature sampling is greedy: logits / temperature would overflow, and the
# distribution is one-hot anyway (vLLM uses the same epsilon).
GREEDY_BELOW_TEMPERATURE = 1e-5


def completion_budget(
    prompt_tokens: int,
    max_tokens: int | None,
    *,
    context_window: int,
    max_output_tokens: int | None,
) -> int:
    """The completion length to allow, or the error that names the numbers.

    ``max_tokens`` None means "as much as fits", capped by the model's ``max_output_tokens``.
    """
    if prompt_tokens >= context_window or (
        max_tokens is not None and prompt_tokens + max_tokens > context_window
    ):
        raise ContextLengthExceeded(prompt_tokens, max_tokens, context_window)
    room = context_window - prompt_tokens
    if max_tokens is None:
        return room if max_output_tokens is None else min(max_output_tokens, room)
    if max_output_tokens is not None and max_tokens > max_output_tokens:
        raise MaxTokensTooLarge(max_tokens, max_output_tokens)
    return max_tokens
