"""Incremental decoding of a server-sent-events (SSE) byte stream.

Only what OpenAI-compatible streams use: ``data:`` fields, ``:`` comments, events ended
by a blank line. Bytes are split into lines before decoding, so a multi-byte UTF-8
character cut across network chunks is reassembled. Lines end with ``\\n`` or ``\\r\\n``
(a lone ``\\r`` terminator, allowed by the spec, is not used by these providers).

The decoder runs inside the router process on bytes a provider controls, so an event is
bounded (``max_event_bytes``) and buffering is linear: a line that never ends costs its
bytes once, up to the bound, not a copy per network chunk.
"""

MAX_EVENT_BYTES = 1 << 20  # a streamed delta is bytes to kilobytes; 1 MiB is ample


class EventTooLarge(ValueError):
    """An event (or one line of it) exceeds the decoder's bound."""


class SSEDecoder:
    """Feed raw bytes as they arrive; get back the ``data`` of each completed event."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._pending = bytearray()  # an incomplete last line
        self._data: list[str] = []  # data lines of the event being read
        self._data_bytes = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Return the data payloads of the events completed by ``chunk``, in order."""
        if b"\n" not in chunk:
            self._pending += chunk
            self._check(len(self._pending))
            return []
        lines = (bytes(self._pending) + chunk).split(b"\n")
        self._pending = bytearray(lines.pop())
        self._check(len(self._pending))
        events: list[str] = []
        for raw in lines:
            event = self._line(raw.removesuffix(b"\r"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[str]:
        """End of stream: an unterminated last event still counts (lenient, like browsers
        are not; some providers omit the final blank line)."""
        events = self.feed(b"\n\n") if self._pending or self._data else []
        self._pending = bytearray()
        return events

    def _check(self, pending: int) -> None:
        if self._data_bytes + pending > self._max:
            raise EventTooLarge(f"a stream event exceeds {self._max} bytes")

    def _line(self, raw: bytes) -> str | None:
        if not raw:  # a blank line dispatches the event, if it had data
            if not self._data:
                return None
            event = "\n".join(self._data)
            self._data, self._data_bytes = [], 0
            return event
        if raw.startswith(b":"):  # a comment (keep-alive)
            return None
        self._check(len(raw))
        name, _, value = raw.partition(b":")
        if name == b"data":
            self._data.append(value.removeprefix(b" ").decode("utf-8", errors="replace"))
            self._data_bytes += len(value)
        # Other fields (event, id, retry) carry nothing OpenAI-compatible streams need.
        return None
