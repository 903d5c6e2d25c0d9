"""Prompt -> token ids with the model's own tokenizer and chat template (every local
engine counts prompt tokens exactly this way)."""

from collections.abc import Mapping
from typing import Any

import jinja2

from serving.engine import ChatPrompt, TextPrompt
from serving.errors import InvalidPrompt


def encode_prompt(
    tokenizer: Any,
    prompt: ChatPrompt | TextPrompt,
    tools: list[Mapping[str, Any]] | None = None,
) -> list[int]:
    if isinstance(prompt, TextPrompt):
        ids: list[int] = tokenizer(prompt.text)["input_ids"]
    else:
        try:
            # return_dict=False: transformers 5 returns a dict of tensors by default.
            ids = tokenizer.apply_chat_template(
                list(prompt.messages),
                tools=tools,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
            )
        except (jinja2.TemplateError, TypeError, ValueError, KeyError) as exc:
            raise InvalidPrompt(f"the messages do not fit the chat template: {exc}") from exc
    if not ids:
        raise InvalidPrompt("the prompt is empty")
    return list(ids)
