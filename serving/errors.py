"""Errors an engine raises for a request it cannot serve.

They cross Ray process boundaries, so every constructor argument goes to
``Exception.__init__`` (that is what pickling replays).
"""


class EngineError(Exception):
    """Base of the errors the router maps to an OpenAI error; anything else is a bug."""


class ContextLengthExceeded(EngineError):
    def __init__(self, prompt_tokens: int, max_tokens: int | None, context_window: int) -> None:
        super().__init__(prompt_tokens, max_tokens, context_window)
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.context_window = context_window

    def __str__(self) -> str:
        if self.max_tokens is None:
            return (
                f"This model's maximum context length is {self.context_window} tokens. "
                f"However, your messages resulted in {self.prompt_tokens} tokens, "
                "leaving no room for the completion. Please reduce the length of the messages."
            )
        return (
            f"This model's maximum context length is {self.context_window} tokens. "
            f"However, you requested {self.prompt_tokens + self.max_tokens} tokens "
            f"({self.prompt_tokens} in the messages, {self.max_tokens} in the completion). "
            "Please reduce the length of the messages or completion."
        )


class InputTooLong(EngineError):
    """An embedding input has more tokens than the model reads."""

    def __init__(self, index: int, tokens: int, limit: int) -> None:
        super().__init__(index, tokens, limit)
        self.index, self.tokens, self.limit = index, tokens, limit

    def __str__(self) -> str:
        return (
            f"This model's maximum context length is {self.limit} tokens, however input"
            f"[{self.index}] has {self.tokens} tokens. Please reduce the length of the input."
        )


class EngineUnavailable(EngineError):
    """The engine is not loaded, shutting down, or its worker died."""


class EngineFailed(EngineError):
    """This request failed inside the engine (a bug or bad numbers); the engine goes on."""


class EngineOverloaded(EngineError):
    """The model's bounded queue is full (Ray Serve back-pressure): saturated right now."""


class UpstreamError(EngineError):
    """An external provider refused the request (a 4xx, or an error event mid-stream).

    Carries the provider's OpenAI error fields so the router can relay them; ``retry_after``
    is in seconds (from ``Retry-After``/``retry-after-ms``) when the provider sent one.
    """

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, error_type, code, retry_after)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"upstream provider answered {self.status}: {self.message}"


class InvalidPrompt(EngineError):
    """The prompt cannot be rendered or tokenized, e.g. messages the chat template rejects."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MaxTokensTooLarge(EngineError):
    """``max_tokens`` exceeds the model's ``max_output_tokens``."""

    def __init__(self, max_tokens: int, limit: int) -> None:
        super().__init__(max_tokens, limit)
        self.max_tokens = max_tokens
        self.limit = limit

    def __str__(self) -> str:
        return (
            f"max_tokens is too large: {self.max_tokens}. This model supports at most "
            f"{self.limit} completion tokens."
        )


class UnsupportedFeature(EngineError):
    """The request asks for something this engine cannot honour (e.g. guaranteed JSON)."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(param, reason)
        self.param = param
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


# The request's own errors, and a full queue: not a failure of the engine.
_NOT_FAULTS = (
    ContextLengthExceeded,
    InputTooLong,
    MaxTokensTooLarge,
    UnsupportedFeature,
    InvalidPrompt,
    EngineOverloaded,
)


def is_engine_fault(error: EngineError) -> bool:
    """Whether the engine (or the provider behind it) failed, rather than refusing this
    request or being busy: a fault fails over to another model, and counts against an
    external provider's circuit breaker."""
    if isinstance(error, UpstreamError):
        return not 400 <= error.status < 500
    return not isinstance(error, _NOT_FAULTS)
