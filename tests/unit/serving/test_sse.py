from serving.sse import SSEDecoder

STREAM = (
    ": keep-alive comment\n\n"
    'data: {"text": "héllo"}\n\n'
    "event: message\r\nid: 7\r\ndata:no-space\r\n\r\n"
    "data: line one\ndata: line two\n\n"
    "\n\n"  # blank lines without data dispatch nothing
    "data: [DONE]\n\n"
).encode()
EVENTS = ['{"text": "héllo"}', "no-space", "line one\nline two", "[DONE]"]


def test_whole_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) + decoder.close() == EVENTS


def test_any_split_point_gives_the_same_events() -> None:
    # Includes splits inside the two-byte "é" and between "\r" and "\n".
    for cut in range(len(STREAM) + 1):
        decoder = SSEDecoder()
        events = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:]) + decoder.close()
        assert events == EVENTS, cut


def test_byte_by_byte() -> None:
    decoder = SSEDecoder()
    events = [event for i in range(len(STREAM)) for event in decoder.feed(STREAM[i : i + 1])]
    assert events == EVENTS


def test_unterminated_last_event_is_flushed_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b") == ["a"]
    assert decoder.close() == ["b"]
    assert decoder.close() == []


def test_empty_close() -> None:
    assert SSEDecoder().close() == []
