"""Incremental decoding of a server-sent-events (SSE) byte stream.

Only what OpenAI-compatible streams use: ``data:`` fields, ``:`` comments, events ended
by a blank line. Bytes are split into lines before decoding, so a multi-byte UTF-8
character cut across network chunks is reassembled. Lines end with ``\\n`` or ``\\r\\n``
(a lone ``\\r`` terminator, allowed by the spec, is not used by these providers).
"""


class SSEDecoder:
    """Feed raw bytes as they arrive; get back the ``data`` of each completed event."""

    def __init__(self) -> None:
        self._pending = b""  # an incomplete last line
        self._data: list[str] = []  # data lines of the event being read

    def feed(self, chunk: bytes) -> list[str]:
        """Return the data payloads of the events completed by ``chunk``, in order."""
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        events: list[str] = []
        for raw in lines:
            event = self._line(raw.removesuffix(b"\r").decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[str]:
        """End of stream: an unterminated last event still counts (lenient, like browsers
        are not; some providers omit the final blank line)."""
        events = self.feed(b"\n\n") if self._pending or self._data else []
        self._pending = b""
        return events

    def _line(self, line: str) -> str | None:
        if not line:  # a blank line dispatches the event, if it had data
            if not self._data:
                return None
            event = "\n".join(self._data)
            self._data = []
            return event
        if line.startswith(":"):  # a comment (keep-alive)
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        # Other fields (event, id, retry) carry nothing OpenAI-compatible streams need.
        return None
