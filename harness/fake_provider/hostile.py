"""The fake provider's hostile modes: a broken or malicious upstream, one mode per fault.

``--hostile MODE`` (or ``POST /faults {"hostile": MODE}``) answers every completion
request that way. Stream modes send 200 and then misbehave; the others refuse.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from harness.fake_provider.reply import Reply

Write = Callable[[bytes], Awaitable[None]]
TICK_S = 0.05  # the pace of endless streams


def _data(event: Any) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def _chunk(reply: Reply, **delta: Any) -> dict[str, Any]:
    return {**reply.head, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip


async def _malformed_choices(write: Write, reply: Reply) -> None:
    await write(_data({**reply.head, "choices": "abc"}))


async def _object_arguments(write: Write, reply: Reply) -> None:
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}
    await write(_data(_chunk(reply, tool_calls=[call])))


async def _number_content(write: Write, reply: Reply) -> None:
    await write(_data(_chunk(reply, content=42)))


async def _keepalive(write: Write, reply: Reply) -> None:
    while True:  # comments keep the connection busy; no token ever comes
        await write(b": keep-alive\n\n")
        await asyncio.sleep(TICK_S)


async def _role_only(write: Write, reply: Reply) -> None:
    while True:
        await write(_data(_chunk(reply, role="assistant")))
        await asyncio.sleep(TICK_S)


async def _huge_line(write: Write, reply: Reply) -> None:
    await write(b"data: ")
    for _ in range(256):  # 16 MiB without a newline
        await write(b"x" * 65536)


async def _endless(write: Write, reply: Reply) -> None:
    while True:
        await write(_data(_chunk(reply, content=" more")))
        await asyncio.sleep(TICK_S)


async def _done_only(write: Write, reply: Reply) -> None:
    await write(b"data: [DONE]\n\n")


async def _split_character(write: Write, reply: Reply) -> None:
    # U+1F600 as a surrogate pair, one half per event (json.dumps escapes each half).
    for text in ("smile \ud83d", "\ude00 done"):
        await write(_data(_chunk(reply, content=text)))
    finish = {**_chunk(reply), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    await write(_data(finish))
    usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": 3, "total_tokens": 0}
    await write(_data({**reply.head, "choices": [], "usage": usage}))
    await write(b"data: [DONE]\n\n")


STREAMS: dict[str, Callable[[Write, Reply], Awaitable[None]]] = {
    "malformed_choices": _malformed_choices,
    "object_arguments": _object_arguments,
    "number_content": _number_content,
    "keepalive": _keepalive,
    "role_only": _role_only,
    "huge_line": _huge_line,
    "endless": _endless,
    "done_only": _done_only,
    "split_character": _split_character,
}
RETRY_AFTER = {
    "absurd_retry_after": "9" * 400,  # a number of seconds no float holds
    "dated_retry_after": "Wed, 21 Oct 2099 07:28:00 GMT",  # decades away
}
MODES = frozenset(STREAMS) | frozenset(RETRY_AFTER)


async def hostile_answer(mode: str, request: web.Request, reply: Reply) -> web.StreamResponse:
    if mode in RETRY_AFTER:
        body = {"error": {"message": "slow down", "type": "rate_limit_error", "param": None,
                          "code": "rate_limit_exceeded"}}  # fmt: skip
        return web.json_response(body, status=429, headers={"Retry-After": RETRY_AFTER[mode]})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await STREAMS[mode](response.write, reply)
    return response
