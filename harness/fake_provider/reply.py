"""The fake provider's deterministic answer: the words of the last user message (or of
the prompt), one word per token, as a whole object or as stream chunks."""

import time
import uuid
from collections.abc import Mapping
from typing import Any

from harness.fake_provider.config import FakeConfig


def _count_words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):  # content parts: count the text ones
        return sum(_count_words(p.get("text")) for p in content if isinstance(p, dict))
    return 0


def _prompt_words(body: Mapping[str, Any], chat: bool) -> tuple[int, list[str]]:
    """(prompt_tokens, words to answer with)."""
    if not chat:
        prompt = str(body.get("prompt", ""))
        return len(prompt.split()), prompt.split() or ["fake"]
    messages = body.get("messages") or []
    used = sum(_count_words(m.get("content")) for m in messages)
    user = [m.get("content") for m in messages if m.get("role") == "user"]
    last = user[-1] if user and isinstance(user[-1], str) else ""
    return used, last.split() or ["fake"]


class Reply:
    """The deterministic answer to one request, as whole objects or stream chunks."""

    def __init__(self, config: FakeConfig, body: Mapping[str, Any], chat: bool) -> None:
        self.chat = chat
        self.n = int(body.get("n") or 1)
        self.prompt_tokens, words = _prompt_words(body, chat)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        self.words = words[:limit] if limit is not None else words
        self.finish = "length" if len(self.words) < len(words) else "stop"
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        self.include_usage = bool(wants_usage) and not config.no_usage
        # A named tool_choice is answered with a call to it, arguments echoing the words.
        named = (body.get("tool_choice") or {}) if chat else {}
        self.tool = named.get("function", {}).get("name") if isinstance(named, dict) else None
        if self.tool:
            self.finish = "tool_calls"
        kind = "chat.completion" if chat else "text_completion"
        self.head: dict[str, Any] = {"id": f"fake-{uuid.uuid4().hex[:12]}", "object": kind}
        self.head.update(created=int(time.time()), model=config.model)

    def usage(self) -> dict[str, int]:
        completion = len(self.words) * self.n
        total = self.prompt_tokens + completion
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": total}  # fmt: skip

    def _choice(self, index: int, text: str, finish: str | None, first: bool) -> dict[str, Any]:
        if self.tool:
            return self._tool_choice(index, text, finish, first)
        if not self.chat:
            return {"index": index, "text": text, "finish_reason": finish, "logprobs": None}
        delta = {"role": "assistant", "content": text} if first else {"content": text}
        return {"index": index, "delta": delta if text or first else {}, "finish_reason": finish}

    def _tool_choice(self, index: int, text: str, finish: str | None, first: bool
                     ) -> dict[str, Any]:  # fmt: skip
        """Streams ``{"words": "<the words>"}`` as argument fragments of one call."""
        fragment = '{"words": "' + text.strip() if first else text
        call: dict[str, Any] = {"index": 0, "function": {"arguments": fragment}}
        if first:
            call |= {"id": f"call_{index}", "type": "function"}
            call["function"]["name"] = self.tool
        if finish:
            call["function"]["arguments"] = '"}'
        return {"index": index, "delta": {"tool_calls": [call]}, "finish_reason": finish}

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {**self.head, "choices": choices}
        if self.chat:
            chunk["object"] = "chat.completion.chunk"
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def events(self) -> list[list[dict[str, Any]]]:
        """Per word position: one chunk per choice; then one finishing chunk per choice."""
        steps = [
            [self._chunk([self._choice(i, (" " if p else "") + w, None, p == 0)])
             for i in range(self.n)]
            for p, w in enumerate(self.words)
        ]  # fmt: skip
        steps.append(
            [self._chunk([self._choice(i, "", self.finish, False)]) for i in range(self.n)]
        )
        return steps

    def usage_chunk(self) -> dict[str, Any]:
        return {**self._chunk([]), "usage": self.usage()}

    def whole(self) -> dict[str, Any]:
        text = " ".join(self.words)
        if self.chat:
            message = {"role": "assistant", "content": text}
            choices = [{"index": i, "message": message, "finish_reason": self.finish}
                       for i in range(self.n)]  # fmt: skip
        else:
            choices = [{"index": i, "text": text, "finish_reason": self.finish, "logprobs": None}
                       for i in range(self.n)]  # fmt: skip
        return {**self.head, "choices": choices, "usage": self.usage()}
