"""ContextWindowFilter: prompt + completion must fit the model's context window.

Inputs: the exact prompt token count for this target (its own tokenizer and chat
template, ``router.routing.tokens``) and ``max_tokens``/``max_completion_tokens``.
Formula: the local engines' own rule (``serving.limits.completion_budget``):
prompt + max_tokens <= context_window, max_tokens <= max_output_tokens, and without
max_tokens at least one token of room. Config: ``context_window``, ``max_output_tokens``.
Trade-off: counting costs one template render per distinct tokenizer (~1-3 ms at 2,000
tokens); a target with no tokenizer (an external provider without
``count_tokens_with``) is left to the provider's own check. The refusal carries the
engines' own words (``serving.errors``): a client reads the same message whichever side
refuses.
"""

from router.routing.facts import RequestFacts
from router.routing.refusal import Refusal
from router.routing.targets import RouteTarget
from serving.errors import ContextLengthExceeded, InvalidPrompt, MaxTokensTooLarge
from serving.limits import completion_budget


class ContextWindowFilter:
    reason = "context_window"

    def exclude(self, facts: RequestFacts, target: RouteTarget) -> Refusal | None:
        count = facts.prompt_tokens.get(target.id)
        if count is None:
            return None
        if isinstance(count, InvalidPrompt):
            if target.external:
                return None  # a borrowed local template refusing says nothing of the provider
            return Refusal(
                self.reason, "invalid", f"Model {target.id!r}: {count}", param="messages"
            )
        try:
            completion_budget(
                count,
                facts.max_tokens,
                context_window=target.context_window,
                max_output_tokens=target.max_output_tokens,
            )
        except ContextLengthExceeded as exc:
            return Refusal(self.reason, "too_long", str(exc), param="messages")
        except MaxTokensTooLarge as exc:
            return Refusal(self.reason, "invalid", str(exc), param="max_tokens")
        return None
