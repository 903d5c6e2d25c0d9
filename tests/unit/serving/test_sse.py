import pytest

from serving.sse import EventTooLarge, SSEDecoder

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


def test_a_line_that_never_ends_is_refused_at_the_bound() -> None:
    decoder = SSEDecoder(max_event_bytes=1 << 16)
    fed = 0
    with pytest.raises(EventTooLarge):
        while fed <= 16 << 20:  # a hostile provider's 16 MiB line, in network-sized chunks
            decoder.feed(b"x" * 4096)
            fed += 4096
    assert fed <= (1 << 16) + 4096  # refused as soon as the line passed the bound


def test_many_data_lines_count_towards_one_event() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    decoder.feed(b"data: " + b"a" * 60 + b"\n")
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: " + b"b" * 60 + b"\n")


def test_events_under_the_bound_pass_and_reset_it() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    line = b"data: " + b"a" * 80 + b"\n\n"
    assert decoder.feed(line * 3) == ["a" * 80] * 3
