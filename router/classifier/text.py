"""The one text the classifier sees for a conversation, shared by training and routing so
that the model is never asked about text shaped unlike what it was trained on."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar


class _Conversation(Protocol):
    @property
    def messages(self) -> Sequence[Mapping[str, Any]]: ...


Conversation = TypeVar("Conversation", bound=_Conversation)


def unique_texts(items: Iterable[Conversation]) -> list[Conversation]:
    """The first item of each routing text: the same text twice says nothing new, and
    across a split it would leak held-out text into training."""
    seen: set[str] = set()
    kept = []
    for item in items:
        text = routing_text(item.messages)
        if text not in seen:
            seen.add(text)
            kept.append(item)
    return kept


def routing_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The system messages' content, then the last user message's content, one per line.

    The system prompt states the task and the last user turn the question; earlier turns
    and assistant replies add length (and embedding cost) without saying much about how
    hard the next answer is.
    """
    system = [message_text(m) for m in messages if m.get("role") == "system"]
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    return "\n".join(system + users[-1:])


def message_text(message: Mapping[str, Any]) -> str:
    """Plain string content, or the text parts of an OpenAI content-part list."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if part.get("type") == "text"
        )
    return ""
