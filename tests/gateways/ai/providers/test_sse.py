"""The SSE parser: any byte split, CRLF and CR line ends, comments, multi-line data, a missing last blank line."""

from gateways.ai.providers.sse import Event, SSEParser

STREAM = (
    ": keep-alive comment\r\n"
    'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    "data: first line\ndata: second line\n\n"
    "event: x\rdata: é ünïcode ✓\r\r"
    "data: [DONE]\n\n"
).encode()
EXPECTED = [
    Event("message_start", '{"a": 1}'),
    Event("message", "first line\nsecond line"),
    Event("x", "é ünïcode ✓"),
    Event("message", "[DONE]"),
]


def _events_at_every_split(stream: bytes) -> None:
    for size in range(1, len(stream) + 1):
        parser = SSEParser()
        events = []
        for start in range(0, len(stream), size):
            events.extend(parser.feed(stream[start : start + size]))
        events.extend(parser.finish())
        assert events == EXPECTED, size


def test_every_split_gives_the_same_events():
    _events_at_every_split(STREAM)


def test_lf_only_streams_give_the_same_events_at_every_split():
    # LF-only input takes the parser's split-per-read path; a CR anywhere takes the line-by-line one.
    stream = STREAM.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    assert b"\r" not in stream
    _events_at_every_split(stream)


def test_an_unterminated_last_event_is_delivered_by_finish():
    parser = SSEParser()
    assert parser.feed(b"data: tail") == []
    assert parser.finish() == [Event("message", "tail")]


def test_field_without_space_and_unknown_fields():
    parser = SSEParser()
    assert parser.feed(b"data:x\nid: 7\nretry: 10\n\n") == [Event("message", "x")]
