"""TCP syslog framing (RFC 6587): octet counting and newlines, split anywhere, with size limits."""

from __future__ import annotations

import pytest

from lakehose.collector.sources.syslog import Framer

MSGS = [
    b"<13>1 2024-01-01T00:00:00Z h app - - - hello",
    b"<14>Jan  1 00:00:00 h app: b\xc3\xa9",
    b"x" * 300,
]


def octets(messages: list[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in messages)


def newlines(messages: list[bytes]) -> bytes:
    return b"".join(m + b"\n" for m in messages)


@pytest.mark.parametrize("encode", [octets, newlines], ids=["octet-count", "newline"])
@pytest.mark.parametrize("step", [1, 2, 7, 64, 10_000])
def test_messages_come_out_whole_however_the_stream_is_split(encode, step) -> None:  # type: ignore[no-untyped-def]
    data = encode(MSGS) * 3
    f = Framer(1 << 20)
    out = []
    for i in range(0, len(data), step):
        out += f.feed(data[i : i + step])
    out += f.close()
    assert out == MSGS * 3


def test_octet_counted_frames_keep_newlines_inside_and_drop_a_trailing_one() -> None:
    f = Framer(1024)
    assert f.feed(octets([b"<13>1 - - - - - - two\nlines", b"<13>1 - - - - - - nl\n"])) == [
        b"<13>1 - - - - - - two\nlines",
        b"<13>1 - - - - - - nl",
    ]


def test_oversized_messages_are_cut_and_their_rest_skipped() -> None:
    f = Framer(10)
    big = b"A" * 25
    data = octets([big, b"ok"]) + b"B" * 30 + b"\nshort\n"
    out = []
    for i in range(0, len(data), 4):
        out += f.feed(data[i : i + 4])
    assert out == [b"A" * 10, b"ok", b"B" * 10, b"short"]
    assert f.truncated == 2


def test_a_last_unterminated_message_is_kept_when_the_peer_closes() -> None:
    f = Framer(100)
    assert f.feed(b"one\ntwo") == [b"one"]
    assert f.close() == [b"two"]


def test_crlf_and_nul_terminated_messages() -> None:
    assert Framer(100).feed(b"a\r\nb\x00\n\n") == [b"a", b"b"]
