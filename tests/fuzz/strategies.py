"""Hypothesis strategies for hostile input: JSON built byte by byte, so it can hold what no encoder
writes (numbers beyond a double, lone surrogates, invalid UTF-8, NUL bytes, BOMs, deep nesting).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

DEEP = 10_000
MEGABYTE = 1 << 20

# Scalars as JSON text: the awkward ones a fuzzer should try.
NASTY_NUMBERS = [
    b"1e400",
    b"-1e400",
    b"1E+999",
    b"1e0400",
    b"1.5e308",
    b"1e-400",
    b"%d" % 2**200,
    b"-%d" % 2**64,
    b"1" + b"0" * 400,
    b"0." + b"0" * 400 + b"1",
    b"-0",
    b"-0.0",
    b"0e0",
    b"9223372036854775808",
    b"18446744073709551616",
]
NASTY_TOKENS = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"nan",
    b"inf",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"0x10",
]
NASTY_STRINGS = [
    b'"\\ud800"',
    b'"\\udc00"',
    b'"\\ud800\\u0041"',
    b'"\\ud83d\\ude00"',
    b'"\\u0000"',
    b'"a\x00b"',
    b'"\xff"',
    b'"\xed\xa0\x80"',
    b'"\xc0\x80"',
    b'"\xe2\x82"',
    b'"\xef\xbb\xbf"',
    b'"\\"',
    b'"\\x41"',
    b'"tab\there"',
    b'"line\nbreak"',
    b'"<34>1 9999-12-31T23:59:59Z h a - - - m"',
    b'"<34>1 0001-01-01T00:00:00Z h a - - - m"',
    b'"a=1 b=\\"two\\" ts=99999999999999999999"',
    b'"timestamp"',
]
BOMS = [b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff"]
SEPARATORS = [b"", b"\n", b"\r\n", b"\r", b" ", b"\n\n", b"\t", b"\x00", b"\n \n"]


def nested(depth: int, kind: str = "[") -> bytes:
    if kind == "[":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# Values no generator below would reach by chance.
SPECIAL_VALUES = [
    nested(DEEP),
    nested(DEEP, "{"),
    nested(300),
    nested(300, "{"),
    nested(199),
    b"[" * DEEP,
    b'{"timestamp":1e400}',
    b'{"timestamp":"1e400","timeunit":"ns"}',
    b'{"timestamp":%d,"timeunit":"ns"}' % 2**70,
    b'{"timestamp":-1}',
    b'{"a":[[[[[[[[[[' + b"]" * 10 + b"}",
]

plain_text = st.text(max_size=20)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    plain_text,
).map(orjson.dumps)
leaves = st.one_of(
    json_scalars,
    json_scalars,
    st.sampled_from(NASTY_NUMBERS),
    st.sampled_from(NASTY_STRINGS),
    st.sampled_from(NASTY_TOKENS),
)
keys = st.one_of(plain_text.map(orjson.dumps), st.sampled_from(NASTY_STRINGS))


def _array(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def _object(members: list[tuple[bytes, bytes]]) -> bytes:
    return b"{" + b",".join(k + b":" + v for k, v in members) + b"}"


json_values: st.SearchStrategy[bytes] = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=3).map(_array)
        | st.lists(st.tuples(keys, kids), max_size=3).map(_object)
    ),
    max_leaves=6,
)

time_values = st.one_of(
    st.integers(-10, 2**70).map(lambda n: b"%d" % n),
    st.floats(allow_nan=False, allow_infinity=False).map(orjson.dumps),
    st.sampled_from(NASTY_NUMBERS),
    st.sampled_from(
        [b'"1700000000.5"', b'"-0"', b'"NaN"', b'"1e999"', b'"9' * 30 + b'"', b'" 17 "', b'""']
    ),
    st.from_regex(r"\A\d{1,12}(\.\d{0,12})?([eE][+-]?\d{1,4})?\Z").map(
        lambda s: b'"' + s.encode() + b'"'
    ),
    st.sampled_from([b"true", b"null", b"[]", b"{}"]),
)
meta_values = st.one_of(plain_text.map(orjson.dumps), st.sampled_from(NASTY_STRINGS), leaves)
field_maps = st.one_of(
    st.lists(st.tuples(keys, leaves | st.lists(leaves, max_size=3).map(_array)), max_size=4).map(
        _object
    ),
    json_values,
)


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    """One ``/event`` envelope, usually well-formed, with members in any order."""
    members: list[tuple[bytes, bytes]] = []
    if draw(st.integers(0, 9)):
        rare = draw(st.integers(0, 19)) == 0
        members.append((b'"event"', draw(st.sampled_from(SPECIAL_VALUES) if rare else json_values)))
    if draw(st.booleans()):
        members.append((b'"time"', draw(time_values)))
    for name in (b'"host"', b'"source"', b'"sourcetype"', b'"index"'):
        if draw(st.integers(0, 3)) == 0:
            value = draw(
                meta_values
                | st.sampled_from([b'"kv"', b'"syslog"', b'"json"', b'"main"', b'"_json"'])
            )
            members.append((name, value))
    if draw(st.integers(0, 3)) == 0:
        members.append((b'"fields"', draw(field_maps)))
    if draw(st.integers(0, 9)) == 0:
        members.append((draw(keys), draw(leaves)))
    if draw(st.booleans()):
        members.reverse()
    return _object(members)


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` with a few random byte-level edits (insert, delete, overwrite, truncate)."""
    out = bytearray(body)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out)))
        edit = draw(st.sampled_from(["insert", "delete", "overwrite", "truncate"]))
        chunk = draw(
            st.binary(min_size=1, max_size=4)
            | st.sampled_from([b"{", b"}", b"[", b'"', b"\\", b"\n", b"}{", b"\x00", b"\xff"])
        )
        if edit == "insert":
            out[at:at] = chunk
        elif edit == "delete":
            del out[at : at + len(chunk)]
        elif edit == "overwrite":
            out[at : at + len(chunk)] = chunk
        else:
            del out[at:]
    return bytes(out)


@st.composite
def event_bodies(draw: st.DrawFn) -> bytes:
    """An ``/event`` body: envelopes (some in arrays) joined by any separator, maybe damaged."""
    items = draw(st.lists(envelopes() | st.lists(envelopes(), max_size=2).map(_array), max_size=4))
    sep = draw(st.sampled_from(SEPARATORS))
    body = sep.join(items)
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.sampled_from(BOMS)) + body
    if draw(st.integers(0, 4)) == 0:
        body = draw(mutated(body))
    return body


def one_megabyte_line(kind: str) -> bytes:
    if kind == "event":
        return b'{"event":"' + b"a" * MEGABYTE + b'"}'
    if kind == "raw":
        return b"x" * MEGABYTE
    return b'{"event":{"k":"' + b"\\u00e9" * (MEGABYTE // 6) + b'"}}'


SPECIAL_BODIES = [
    b"",
    b" ",
    b"\n\n\r\n",
    b"\x00",
    b"\x00" * 64,
    b"\xef\xbb\xbf",
    b'\xef\xbb\xbf{"event":1}',
    b'{"event":1}\n\xef\xbb\xbf{"event":2}',
    b'"just a string"',
    b'"\\ud800"',
    b"[]",
    b"[[]]",
    b"{}",
    b"null",
    b"}{",
    b'{"event":1}}{{"event":2}',
    b'{"event":' + nested(DEEP) + b"}",
    b'{"event":' + nested(DEEP, "{") + b"}",
    b'{"event":1}\n{"event":' + nested(DEEP) + b"}",
    b"[" * DEEP,
    b'{"event":1,"host":"\\ud800"}\n{"event":',
    b'{"event":"x","sourcetype":"\\udfff"}}',
    b'{"event":1,"fields":{"n":%d}}' % 2**200,
    b'{"event":{"a":1e400}}',
    b'{"event":1e400}\n{"event":2}',
    b'{"event":"\xff\xfe"}',
    one_megabyte_line("event"),
    one_megabyte_line("raw"),
    one_megabyte_line("escaped"),
]


python_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(-1e300, 1e300)
    | plain_text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(plain_text, kids, max_size=3),
    max_leaves=6,
)
good_envelopes = st.fixed_dictionaries(
    {"event": python_values.filter(lambda v: v is not None and v != "")},
    optional={
        "time": st.integers(0, 4_000_000_000) | st.floats(0, 4e9),
        "host": plain_text,
        "sourcetype": st.sampled_from(["kv", "syslog", "fw:kv", "words", "_json", "x"]),
        "fields": st.dictionaries(plain_text, st.integers(0, 100) | plain_text, max_size=2),
    },
)
good_bodies = st.lists(good_envelopes, min_size=1, max_size=5).map(
    lambda envs: b"\n".join(map(orjson.dumps, envs))
)


def any_body() -> st.SearchStrategy[bytes]:
    """Bodies for any HEC endpoint: valid ones, generated envelopes, random bytes, a known nasty one."""
    return st.one_of(
        good_bodies,
        good_bodies,
        good_bodies,
        event_bodies(),
        event_bodies(),
        st.binary(max_size=200),
        st.sampled_from(SPECIAL_BODIES),
    )


def as_json(value: Any) -> bytes:
    return orjson.dumps(value)
