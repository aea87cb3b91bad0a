"""Black-box fuzzing of a running server, over HTTP with valid credentials.

Generated requests go to every HEC endpoint (with any Content-Encoding, compression
bombs of gzip and zstd, garbage channels and query strings), to the stream API
(discovery, data feed, refresh) and to ``POST /api/v1/search``. Every answer must
be below 500 (a 503 only as HEC code 9, back-pressure) and every error must have
its body: HEC's ``{"text", "code"}`` on HEC routes, the Falcon envelope elsewhere.
The last test checks what the fuzzing left behind: the server is healthy, its
memory did not grow without bound, it logged no error, and every event it
accepted can be read back through search and both stream formats.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from lakehose.parsers.hec import CODES
from lakehose.testing import RunningServer, run_server
from tests.fuzz.budgetkit import VARIANTS, fuzz_settings, tried
from tests.fuzz.querykit import DEEPLY_NESTED, broken_queries, queries
from tests.fuzz.rawhttpkit import Reply, exchange, head
from tests.fuzz.strategies import any_body
from tests.helpers import bearer_token, create_connector, process_role, process_rss

MAX_BODY = 4 * 1024 * 1024
PARSERS_TOML = """
[parsers.fw]
type = "kv"
time_field = "ts"
sourcetypes = ["fw:kv"]

[parsers.words]
type = "regex"
pattern = '^(?P<ts>\\S+) (?P<word>\\w+)'
time_field = "ts"
time_format = "iso8601"
"""
BOMB_SIZE = 64 * 1024 * 1024
GZIP_BOMB = gzip.compress(b"\0" * BOMB_SIZE, 9)
ZSTD_BOMB = zstandard.ZstdCompressor(level=19).compress(b"\0" * BOMB_SIZE)
# Searches run on a pool of threads, and glibc gives each thread its own malloc arena, so
# back-to-back searches leave several arenas at their high-water mark (about 90 MiB here after
# the fast run). Bounded by the pool; a leak of a few dozen KiB a request would cross this.
RSS_GROWTH_LIMIT_KIB = 160 * 1024
STATUSES: Counter[str] = Counter()  # answers seen, printed at the end (pytest -s shows them)


@dataclass(repr=False)  # a failing example prints its arguments: keep keys and env out
class Target:
    server: RunningServer
    token: str  # admin: every scope
    keys: dict[str, str]  # connector name -> HEC key
    session: str = ""  # a data-feed session token for partition 0, appId "fuzz"
    rss_before: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port

    def __repr__(self) -> str:
        return f"Target(port={self.port})"


def rss_kib(server: RunningServer) -> int:
    """Resident memory of the server's processes, summed (KiB), without its search processes
    (started on a worker's first searches, at most 4 a worker: a step, not a leak)."""
    assert server.proc is not None
    rss = process_rss(server.proc.pid)
    return sum(v for pid, v in rss.items() if process_role(pid) != "search") // 1024


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    data_dir.mkdir()
    (data_dir / "parsers.toml").write_text(PARSERS_TOML)
    # Short deadlines: a fuzzed Content-Length may promise more body than is sent, and a
    # query of 9,000 words over megabyte events scans for minutes (then 422): an answer
    # must come before the client gives up (60 s), or searches would queue behind it.
    args = ["--max-body-bytes", str(MAX_BODY), "--body-timeout", "2", "--header-timeout", "5"]
    args += ["--search-timeout", "10"]
    with run_server(data_dir, args=args) as server:
        assert server.api_key is not None
        token = bearer_token(server, "admin")
        with httpx.Client(base_url=server.url, headers=bearer(token), timeout=30) as admin:
            keys = {
                "default": server.api_key,
                "acked": create_connector(admin, "acked", use_ack=True),
                "parsed": create_connector(admin, "parsed", parser="fw"),
            }
            found = admin.get("/sensors/entities/datafeed/v2", params={"appId": "fuzz"})
            assert found.status_code == 200, found.text
        t = Target(server, token, keys, found.json()["resources"][0]["sessionToken"]["token"])
        # warm up (first requests, a bomb) before the memory baseline
        for body, encoding in ((b'{"event":"warm up"}', None), (GZIP_BOMB, "gzip")):
            exchange(t.port, hec_request("POST", b"/services/collector", t, body, encoding))
        t.rss_before = rss_kib(server)
        yield t


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hec_request(
    method: str,
    target: bytes,
    t: Target,
    body: bytes,
    encoding: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> bytes:
    headers = [(b"Authorization", f"Splunk {t.keys['default']}".encode())]
    if encoding is not None:
        headers.append((b"Content-Encoding", encoding.encode()))
    return head(method, target, headers + (extra or []), len(body)) + body


# -- what every answer must look like -------------------------------------------------------


def check_hec_reply(reply: Reply | None, method: str) -> None:
    assert reply is not None, "the server closed the connection without an answer"
    status = reply.status
    if method == "HEAD" or (method == "OPTIONS" and status == 200):
        STATUSES[f"hec {status} {method}"] += 1
        assert status < 500
        return
    body = orjson.loads(reply.body)
    assert reply.headers.get("content-type", "").startswith("application/json")
    if status == 200 and "acks" in body:
        STATUSES["hec 200 acks"] += 1
        assert type(body["acks"]) is dict
        return
    assert type(body["text"]) is str and type(body["code"]) is int, body
    STATUSES[f"hec {status} code {body['code']}"] += 1
    assert status < 500 or (status, body["code"]) == (503, 9), (status, body)
    if body["code"] in CODES:
        assert CODES[body["code"]] == (status, body["text"]), (status, body)
    elif status == 405:  # a HEC body whose code matches, and Allow (issue 18)
        assert body["code"] == 405 and reply.headers.get("allow"), (reply.headers, body)
    else:
        assert body["code"] == status, (status, body)
    for key in ("invalid-event-number", "ackId"):
        assert key not in body or (type(body[key]) is int and body[key] >= 0), body


def check_api_reply(reply: Reply | None, method: str = "GET") -> dict[str, Any] | None:
    """Checks the Falcon envelope; the parsed body, or None for a HEAD or an open data feed."""
    assert reply is not None, "the server closed the connection without an answer"
    STATUSES[f"api {reply.status}"] += 1
    assert reply.status < 500, (reply.status, reply.body[:500])
    if method == "HEAD" or not reply.body:
        assert method == "HEAD" or reply.status == 200, reply.status
        return None
    assert reply.headers.get("content-type", "").startswith("application/json")
    body: dict[str, Any] = orjson.loads(reply.body)
    assert set(body) == {"meta", "errors", "resources"} and body["meta"], body
    assert type(body["errors"]) is list and type(body["resources"]) is list
    if reply.status >= 400:
        error = body["errors"][0]
        assert error["code"] == reply.status and type(error["message"]) is str, body
        assert error["message"], body
    return body


# -- HEC ----------------------------------------------------------------------------------

HEC_PATHS = [
    "/services/collector",
    "/services/collector/event",
    "/services/collector/event/1.0",
    "/services/collector/raw",
    "/services/collector/raw/1.0",
    "/services/collector/ack",
    "/services/collector/ack/1.0",
    "/services/collector/health",
    "/services/collector/health/1.0",
    "/api/v1/ingest/hec",
    "/api/v1/ingest/hec/raw",
]
ODD_HEC_PATHS = [
    "/services/collector/",
    "/prefix/services/collector/event",
    "/services/collector/bogus",
    "/services/collector/event/2.0",
    "/services/collector%2Fraw",
    "/services/collector/%00",
    "//services/collector",
    "/services/collector/raw/../event",
]
visible = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"))
query_values = st.one_of(
    visible.map(lambda v: quote(v, safe="")),
    st.sampled_from(["", "main", "sec", "kv", "syslog", "fw", "words", "1700000000.5", "1e400"]),
    st.sampled_from(["-1", "9" * 40, "%zz", "%00", "%ff%fe", "a%20b", str(uuid.uuid4())]),
)
query_names = st.sampled_from(
    ["channel", "index", "sourcetype", "source", "host", "time", "fields", "x", "%zz"]
)
queries_hec = st.lists(st.tuples(query_names, query_values), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)
channels = st.one_of(
    st.none(),
    st.builds(lambda: str(uuid.uuid4())),
    st.builds(lambda: str(uuid.uuid4()).upper()),
    visible.map(lambda v: v.strip()),
    st.sampled_from(
        ["x" * 10_000, "{" + str(uuid.uuid4()) + "}", "00000000-0000-0000-0000-00000000000g"]
    ),
)
encodings = st.sampled_from(
    ["", "identity", "gzip", "x-gzip", "GZIP", " gzip ", "zstd", "br", "deflate", "compress"]
    + ["gzip, zstd", "*", "gzip;q=1", "zstd\tx", "\xe9", "bogus"]
)


def encode_body(body: bytes, encoding: str, damage: int) -> bytes:
    """The body as ``encoding`` says, or a damaged or hostile version of it (``damage`` > 0)."""
    enc = encoding.strip().lower()
    if damage == 1:
        return GZIP_BOMB if enc != "zstd" else ZSTD_BOMB
    if damage == 2:
        return ZSTD_BOMB if enc != "zstd" else GZIP_BOMB
    if enc in ("gzip", "x-gzip"):
        packed = gzip.compress(body, 1)
    elif enc == "zstd":
        packed = zstandard.ZstdCompressor().compress(body)
    else:
        return body
    if damage == 3:
        return packed[: len(packed) // 2]  # truncated
    if damage == 4:
        return packed + b"trailing garbage"
    if damage == 5:
        return packed + packed  # two members / frames
    if damage == 6:
        return gzip.compress(packed) if enc != "zstd" else packed
    if damage == 7:
        return os.urandom(len(packed) or 1)
    return packed


ack_bodies = st.one_of(
    st.sampled_from([b'{"acks":[0,1,2]}', b'{"acks":[]}', b'{"acks":[-1]}', b'{"acks":"0"}']),
    st.sampled_from([b'{"acks":[1e400]}', b'{"acks":[18446744073709551616]}', b"{}", b"[]"]),
    st.lists(st.integers(-5, 2**70), max_size=5).map(
        lambda ids: b'{"acks":[%s]}' % b",".join(b"%d" % i for i in ids)
    ),
)


@st.composite
def hec_requests(draw: st.DrawFn, t: Target) -> tuple[str, bytes]:
    method = draw(st.sampled_from(["POST"] * 30 + ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]))
    path = draw(st.sampled_from(HEC_PATHS * 5 + ODD_HEC_PATHS))
    query = draw(queries_hec)
    target = (path + ("?" + query if query else "")).encode()
    connector = draw(st.sampled_from(["default", "default", "acked", "parsed"]))
    key = t.keys[connector]
    # Valid keys, written every way HEC accepts them (wrong keys would soon meet the
    # lockout: tests/security covers those). A missing key is code 2, not a failed check.
    auth = draw(
        st.sampled_from(
            [f"Splunk {key}"] * 10
            + [f"Bearer {key}", f"splunk   {key}  ", f"SPLUNK {key}", ""]
            + ["Basic " + base64.b64encode(f"x:{key}".encode()).decode()]
        )
    )
    headers: list[tuple[bytes, bytes]] = []
    if auth:
        headers.append((b"Authorization", auth.encode("latin-1")))
    channel = draw(channels)
    if channel is not None:
        headers.append((b"X-Splunk-Request-Channel", channel.encode("latin-1", "replace")))
    encoding = draw(st.sampled_from(["", "gzip", "zstd"]) | encodings)
    if encoding:
        headers.append((b"Content-Encoding", encoding.encode("latin-1")))
    if draw(st.integers(0, 4)) == 0:
        headers.append((b"Content-Type", draw(visible).encode("latin-1")))
    if draw(st.integers(0, 29)) == 0:
        headers.append((b"X-Junk", b"j" * draw(st.sampled_from([1000, 60_000, 200_000]))))
    body = draw(ack_bodies if "/ack" in path else any_body())
    damage = draw(st.integers(0, 7)) if draw(st.integers(0, 5)) == 0 else 0
    body = encode_body(body, encoding, damage)
    length: int | None = len(body)
    if draw(st.integers(0, 49)) == 0:
        headers.append((b"Content-Length", draw(st.sampled_from([b"abc", b"-1", b"1e3", b"99"]))))
        length = None
    return method, head(method, target, headers, length) + body


@pytest.mark.parametrize("variant", VARIANTS)
def test_hec_endpoints_answer_every_fuzzed_request_with_a_hec_body(
    target: Target, variant: str
) -> None:
    @fuzz_settings(variant, 250)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        tried("server/hec")
        method, request = data.draw(hec_requests(target))
        check_hec_reply(exchange(target.port, request), method)

    run()
    target.notes[f"RSS after HEC ({variant})"] = rss_kib(target.server)


# -- streams ------------------------------------------------------------------------------

app_ids = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9._-]{1,32}\Z"),
    visible,
    st.sampled_from(["", "fuzz", "FUZZ", "a" * 33, "a b", "x/y", "\u00e9t\u00e9", "%00"]),
)
offsets = st.one_of(
    st.integers(0, 2**64).map(str),
    st.sampled_from(["", "-1", " 3 ", "1e3", "0x10", "9" * 400, "\u0661", "3.0", "%20"]),
    visible,
)
partitions = st.one_of(
    st.integers(0, 3).map(str),
    st.sampled_from(["-1", "999999999999", "00", "1.0", "%00", "a", "%E2%82%AC", "0%20"]),
)


def _params(draw: st.DrawFn, names: list[str], values: dict[str, Any]) -> str:
    pairs = []
    for name in names:
        if draw(st.integers(0, 3)):
            pairs.append(f"{name}={quote(draw(values.get(name, visible)), safe='')}")
    if draw(st.integers(0, 9)) == 0:
        pairs.append(draw(st.sampled_from(["%zz", "&&", "=x", "appId=a&appId=b"])))
    return "&".join(pairs)


@st.composite
def stream_requests(draw: st.DrawFn, t: Target) -> tuple[str, bytes, bool]:
    kind = draw(st.sampled_from(["discover", "feed", "feed", "refresh"]))
    values = {
        "appId": app_ids,
        "offset": offsets,
        "whence": st.sampled_from(["0", "2", "1", "", "x"]),
        "format": st.sampled_from(["json", "flatjson", "", "xml", "JSON"]),
        "eventType": visible,
        "action_name": st.sampled_from(["refresh_active_stream_session", "", "x"]),
    }
    bearer_auth = f"Bearer {t.token}"
    if kind == "discover":
        method = draw(st.sampled_from(["GET"] * 5 + ["POST", "HEAD"]))
        path = "/sensors/entities/datafeed/v2"
        query = _params(draw, ["appId", "format"], values)
        auth = draw(st.sampled_from([bearer_auth] * 4 + ["Bearer x", "Token x", ""]))
    elif kind == "feed":
        method = draw(st.sampled_from(["GET"] * 5 + ["POST", "HEAD"]))
        path = f"/sensors/entities/datafeed/v1/{draw(partitions)}"
        query = _params(draw, ["appId", "offset", "whence", "eventType", "format"], values)
        auth = draw(st.sampled_from([f"Token {t.session}"] * 4 + [bearer_auth, "Token x", ""]))
    else:
        method = draw(st.sampled_from(["POST"] * 5 + ["GET"]))
        path = f"/sensors/entities/datafeed-actions/v1/{draw(partitions)}"
        query = _params(draw, ["action_name", "appId"], values)
        auth = draw(st.sampled_from([bearer_auth] * 4 + ["Bearer x", ""]))
    headers = [(b"Authorization", auth.encode())] if auth else []
    body = draw(st.sampled_from([b"", b"{}", b"\x00garbage"]))
    request = head(method, (path + ("?" + query if query else "")).encode(), headers, len(body))
    return method, request + body, kind == "feed"


@pytest.mark.parametrize("variant", VARIANTS)
def test_stream_routes_answer_every_fuzzed_request_with_the_falcon_envelope(
    target: Target, variant: str
) -> None:
    @fuzz_settings(variant, 120)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        tried("server/streams")
        method, request, feed = data.draw(stream_requests(target))
        # an open data feed streams forever: read its head only, then hang up
        reply = exchange(target.port, request, stream=feed)
        if feed and reply is not None and reply.status == 200:
            assert reply.headers.get("content-type", "").startswith("application/json")
            return
        check_api_reply(reply, method)

    run()
    target.notes[f"RSS after streams ({variant})"] = rss_kib(target.server)


# -- search -------------------------------------------------------------------------------

time_ends = st.one_of(
    st.none(),
    st.sampled_from(["15m", "24h", "7d", "now", "1.5h", "2024-05-01T00:00:00Z", "0"]),
    st.sampled_from(["99999999999y", "9" * 400 + "d", "0001-01-01", "9999-12-31T23:59:59"]),
    st.sampled_from(["1e400", "-1", "", "yesterday", "2024-13-45", "\u0661"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    visible,
)
limits = st.one_of(
    st.integers(1, 10_000), st.integers(-(2**70), 2**70), st.sampled_from([0, 1.5, "10", None])
)
any_query = st.one_of(
    queries(), queries(), broken_queries(), st.sampled_from(DEEPLY_NESTED), visible
)


@st.composite
def search_requests(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A search request body, and whether it is valid by construction (it must then get 200)."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(st.binary(max_size=100) | st.sampled_from([b"[]", b"null", b'"q"'])), False
    valid_query = draw(st.booleans())
    body: dict[str, Any] = {"query": draw(queries() if valid_query else any_query)}
    valid = valid_query
    if draw(st.booleans()):
        body["start"] = draw(st.sampled_from(["15m", "24h", "2020-01-01T00:00:00Z"]))
    if draw(st.booleans()):
        body["limit"] = draw(st.integers(1, 10_000))
    if shape == 1:
        body["query"] = draw(st.integers() | st.none() | st.lists(st.text(max_size=3)))
        valid = False
    if shape in (2, 3):
        body["start"], body["end"] = draw(time_ends), draw(time_ends)
        valid = False
    if shape == 4:
        body["limit"] = draw(limits)
        valid = False
    if shape == 5:
        body["cursor"] = draw(visible | st.sampled_from(["eyJ9", "e30", "AAAA" * 100]))
        valid = False
    if shape == 6:
        body[draw(st.sampled_from(["q", "Query", "", "\x00"]))] = 1
        valid = False
    return json.dumps(body).encode(), valid  # (integers beyond 64 bits too)


@pytest.mark.parametrize("variant", VARIANTS)
def test_search_answers_every_fuzzed_request_with_the_falcon_envelope(
    target: Target, variant: str
) -> None:
    @fuzz_settings(variant, 150)
    @given(search_requests(), st.sampled_from(["application/json", "", "text/plain"]))
    def run(request: tuple[bytes, bool], content_type: str) -> None:
        tried("server/search")
        body, valid = request
        headers = [(b"Authorization", f"Bearer {target.token}".encode())]
        if content_type:
            headers.append((b"Content-Type", content_type.encode()))
        data = head("POST", b"/api/v1/search", headers, len(body)) + body
        reply = exchange(target.port, data)
        found = check_api_reply(reply, "POST")
        if valid:
            assert reply is not None and reply.status == 200, (body, found)

    run()
    target.notes[f"RSS after search ({variant})"] = rss_kib(target.server)


# -- what the fuzzing left behind ---------------------------------------------------------


def test_after_the_fuzzing_the_server_is_healthy_lean_and_every_event_readable(
    target: Target,
) -> None:
    server = target.server
    assert server.healthy()
    grown = rss_kib(server) - target.rss_before
    print(f"server RSS: {target.rss_before} KiB after warm-up, grew by {grown} KiB")
    print("answers:", dict(sorted(STATUSES.items())))
    print("\n".join(f"{k}: {v} KiB" for k, v in target.notes.items()))
    assert grown < RSS_GROWTH_LIMIT_KIB, f"server RSS grew by {grown} KiB"
    errors = [line for line in server.logs().splitlines() if '"level":"error"' in line]
    assert not errors, errors[:3]
    with httpx.Client(base_url=server.url, headers=bearer(target.token), timeout=60) as api:
        counted = api.post("/api/v1/search", json={"query": "| groupBy(partition)"})
        assert counted.status_code == 200, counted.text
        per_partition = {row["partition"]: row["_count"] for row in counted.json()["resources"]}
        listed, cursor = 0, None
        while True:
            page = api.post("/api/v1/search", json={"limit": 10_000, "cursor": cursor})
            assert page.status_code == 200, page.text[:500]
            listed += len(page.json()["resources"])
            cursor = page.json()["meta"]["pagination"]["next_cursor"]
            if cursor is None:
                break
        assert listed == sum(per_partition.values()) > 0
        for fmt in ("json", "flatjson"):
            found = api.get(
                "/sensors/entities/datafeed/v2", params={"appId": f"read-{fmt}", "format": fmt}
            )
            assert found.status_code == 200, found.text
            for resource in found.json()["resources"]:
                url = resource["dataFeedURL"]
                p = int(url.split("/datafeed/v1/")[1].split("?")[0])
                read_feed(url, resource["sessionToken"]["token"], per_partition.get(p, 0))
    tried("server/readback", listed)


def read_feed(url: str, token: str, expected: int) -> None:
    """Read ``expected`` events from a data feed: each line parses, offsets are dense."""
    if not expected:
        return
    offsets: list[int] = []
    headers = {"Authorization": f"Token {token}"}
    buffer = b""
    with httpx.stream("GET", url, headers=headers, timeout=30) as feed:
        assert feed.status_code == 200
        # split on b"\n" as consumers do (text line splitting would also cut at U+2028)
        for chunk in feed.iter_bytes():
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    offsets.append(orjson.loads(line)["metadata"]["offset"])
            if len(offsets) >= expected:
                break
    assert offsets[:expected] == list(range(offsets[0], offsets[0] + expected))


# -- malformed HTTP -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that cuts off slow heads and bodies after 1 s (a broken request may stall)."""
    data_dir = tmp_path_factory.mktemp("fuzz-http") / "data"
    args = ["--header-timeout", "1", "--body-timeout", "1"]
    with run_server(data_dir, args=args) as server:
        yield server


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"


HEAD_EDITS: list[tuple[bytes, bytes]] = [
    (b"\r\n", b"\n"),
    (b"HTTP/1.1", b"HTTP/1.0"),
    (b"HTTP/1.1", b"HTTP/2.0"),
    (b"HTTP/1.1", b"http/1.1"),
    (b"HTTP/1.1", b"HTTP/1.1 extra"),
    (b"POST ", b"P@ST "),
    (b"POST ", b"POST  "),
    (b"POST ", b"X" * 1000 + b" "),
    (b"Host: 127.0.0.1", b"Host : 127.0.0.1"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\n folded"),
    (b"Host: 127.0.0.1", b"Host 127.0.0.1"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nHost: other"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\x00"),
    (b"Host: 127.0.0.1", b"Host: \x7f\x01\x1b"),
    (b"Host: 127.0.0.1", b"\xff\xfe: x"),
    (b"Host: 127.0.0.1", b": empty name"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nContent-Length: 1"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nTransfer-Encoding: chunked"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nExpect: 100-continue"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade"),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1" + b"\r\nX-Many: 1" * 3000),
    (b"Host: 127.0.0.1", b"Host: 127.0.0.1" + b"\r\nX-Many: 1" * 8000),
    (b"Content-Length: ", b"Content-Length: +"),
    (b"Content-Length: ", b"Content-Length: 99999999999999999999"),
    (b"Content-Length: ", b"Content-Length:  0x"),
]
PATHS_FOR_HTTP = [
    b"/services/collector",
    b"/services/collector/raw?channel=x",
    b"/api/v1/search",
    b"/sensors/entities/datafeed/v2?appId=a",
    b"http://127.0.0.1/services/collector",
    b"*",
    b"/services/collector#fragment",
    b"/services/collector?\xff\x00",
    b"/" + b"a" * 70_000,
]


@st.composite
def malformed_requests(draw: st.DrawFn, key: str) -> bytes:
    target = draw(st.sampled_from(PATHS_FOR_HTTP))
    body = draw(st.sampled_from([b'{"event":"x"}', b"", b"a=1\nb=2"]))
    data = head("POST", target, [(b"Authorization", f"Splunk {key}".encode())], len(body))
    for old, new in draw(st.lists(st.sampled_from(HEAD_EDITS), max_size=3)):
        data = data.replace(old, new, 1)
    if b"chunked" in data:
        body = draw(
            st.sampled_from(
                [_chunked(body), b"zz\r\nxx\r\n0\r\n\r\n", b"ffffffffffffffffff\r\n", b"5\r\nab"]
            )
        )
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data) - 4))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data + body


def check_any_reply(reply: Reply | None) -> None:
    """An answer in one of the two error shapes (or a success), never a 5xx."""
    assert reply is not None, "no answer"
    assert reply.status < 500, (reply.status, reply.body[:300])
    if not reply.body:
        return
    body = orjson.loads(reply.body)
    if isinstance(body, dict) and "text" in body:
        check_hec_reply(reply, "POST")
    else:
        check_api_reply(reply, "POST")


@pytest.mark.parametrize("variant", VARIANTS)
def test_malformed_http_gets_a_json_error_and_the_server_stays_up(
    strict: RunningServer, variant: str
) -> None:
    assert strict.api_key is not None
    key = strict.api_key

    @fuzz_settings(variant, 80)
    @given(malformed_requests(key))
    def run(data: bytes) -> None:
        tried("server/malformed-http")
        check_any_reply(exchange(strict.port, data, timeout=20))

    run()
    assert strict.healthy()
