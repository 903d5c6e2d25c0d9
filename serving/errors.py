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


class EngineUnavailable(EngineError):
    """The engine is not loaded, shutting down, or its worker died."""
