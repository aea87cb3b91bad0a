"""The HEC wire path (server/protocols/hec_wire.py) on raw sockets: pipelining, 100-continue,
chunked bodies, limits and deadlines, a client that leaves mid-request."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import stored_events, wait_for


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("wire") / "data"
    args = ["--body-timeout", "1", "--header-timeout", "2", "--max-body-bytes", "4096"]
    with run_server(data, args=args) as s:
        yield s


class Conn:
    """A raw HTTP/1.1 connection that reads whole responses (Content-Length framed)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a response; got {self.buf!r}")
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            if not self._fill():
                raise ConnectionError("closed inside a response body")
            rest = self.buf.partition(b"\r\n\r\n")[2]
        self.buf = rest[length:]
        return status, headers, rest[:length]

    def closed(self) -> bool:
        """True once the server has closed the connection (after any data left)."""
        try:
            while self._fill():
                pass
        except (ConnectionResetError, TimeoutError):
            return True
        return True

    def close(self) -> None:
        self.sock.close()


def post(key: str, body: bytes, *extra: str, path: str = "/services/collector/event") -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Authorization: Splunk {key}", *extra]
    if not any(h.lower().startswith("transfer-encoding") for h in extra):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def events(server: RunningServer, marker: str) -> list[object]:
    return [
        e["event"]
        for e in stored_events(server.data_dir)
        if isinstance(e["event"], dict) and e["event"].get("m") == marker
    ]


def ev(marker: str, n: int) -> bytes:
    return orjson.dumps({"event": {"m": marker, "n": n}})


def test_pipelined_requests_are_answered_in_order_hec_and_not(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    conn = Conn(wire.port)
    try:
        conn.send(
            post(key, ev("pipe", 1))
            + post("not-a-key", ev("pipe", 2))
            + b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
            + post(key, ev("pipe", 3))
            + b"GET /services/collector/health HTTP/1.1\r\nHost: x\r\n\r\n"
            + post(key, ev("pipe", 4), path="/services/collector")
        )
        answers = [conn.response() for _ in range(6)]
    finally:
        conn.close()
    assert [a[0] for a in answers] == [200, 403, 200, 200, 200, 200]
    assert orjson.loads(answers[0][2]) == {"text": "Success", "code": 0}
    assert orjson.loads(answers[1][2])["code"] == 4
    assert orjson.loads(answers[2][2])["openapi"].startswith("3.")
    assert orjson.loads(answers[4][2])["code"] == 17
    assert sorted(e["n"] for e in events(wire, "pipe")) == [1, 3, 4]  # type: ignore[index]


def test_many_pipelined_requests_share_commits_and_all_land(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    conn = Conn(wire.port)
    try:
        conn.send(b"".join(post(key, ev("many", n)) for n in range(200)))
        codes = [orjson.loads(conn.response()[2])["code"] for _ in range(200)]
    finally:
        conn.close()
    assert codes == [0] * 200
    assert sorted(e["n"] for e in events(wire, "many")) == list(range(200))  # type: ignore[index]


def test_expect_100_continue(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    body = ev("continue", 1)
    conn = Conn(wire.port)
    try:
        conn.send(post(key, body, "Expect: 100-continue")[: -len(body)])
        status, _, _ = conn.response()
        assert status == 100
        conn.send(body)
        status, _, reply = conn.response()
        assert (status, orjson.loads(reply)["code"]) == (200, 0)
        # refused before the body: no 100, the answer, and the connection is closed
        conn.send(post("not-a-key", body, "Expect: 100-continue")[: -len(body)])
        status, headers, reply = conn.response()
        assert (status, orjson.loads(reply)["code"]) == (403, 4)
        assert headers["connection"] == "close"
        assert conn.closed()
    finally:
        conn.close()
    assert len(events(wire, "continue")) == 1


def test_chunked_bodies_and_their_limit(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    body = ev("chunked", 1) + b"\n" + ev("chunked", 2)
    half = len(body) // 2
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        half,
        body[:half],
        len(body) - half,
        body[half:],
    )
    conn = Conn(wire.port)
    try:
        conn.send(post(key, chunked, "Transfer-Encoding: chunked"))
        status, _, reply = conn.response()
        assert (status, orjson.loads(reply)["code"]) == (200, 0)
        big = b"x" * 3000
        conn.send(post(key, b"%x\r\n%s\r\n" % (len(big), big) * 2, "Transfer-Encoding: chunked"))
        status, headers, reply = conn.response()
        assert (status, orjson.loads(reply)) == (413, {"text": "Content too large", "code": 413})
        assert headers["connection"] == "close"
    finally:
        conn.close()
    assert sorted(e["n"] for e in events(wire, "chunked")) == [1, 2]  # type: ignore[index]


def test_oversize_content_length_is_refused_before_the_body(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    conn = Conn(wire.port)
    try:
        conn.send(
            b"POST /services/collector/event HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Splunk {key}\r\nContent-Length: 10000000\r\n\r\n".encode()
        )
        status, headers, reply = conn.response()  # no body byte was sent
        assert (status, orjson.loads(reply)["code"]) == (413, 413)
        assert headers["connection"] == "close"
        assert conn.closed()
    finally:
        conn.close()


def test_slow_headers_and_slow_bodies_are_cut_off(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    loris, stall = Conn(wire.port), Conn(wire.port)
    try:
        loris.send(b"POST /services/collector/event HTTP/1.1\r\nHost: x\r\n")
        stall.send(post(key, ev("stall", 1))[:-5])
        # meanwhile another connection is served
        other = Conn(wire.port)
        other.send(post(key, ev("stall", 2)))
        assert other.response()[0] == 200
        other.close()
        status, _, reply = stall.response()
        assert (status, reply) == (408, b'{"text":"Request timeout","code":408}')
        status, _, reply = loris.response()
        assert (status, orjson.loads(reply)["code"]) == (408, 408)
        assert loris.closed() and stall.closed()
    finally:
        loris.close()
        stall.close()
    assert [e["n"] for e in events(wire, "stall")] == [2]  # type: ignore[index]


def test_a_client_gone_mid_request_costs_nothing_and_blocks_no_one(wire: RunningServer) -> None:
    key = wire.api_key
    assert key is not None
    # half a body, then gone: nothing stored
    gone = Conn(wire.port)
    gone.send(post(key, ev("gone", 1))[:-7])
    time.sleep(0.1)
    gone.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    gone.close()  # a reset
    # a whole request, then gone before the answer: it is committed all the same
    left = Conn(wire.port)
    left.send(post(key, ev("gone", 2)))
    left.close()
    conn = Conn(wire.port)
    try:
        conn.send(post(key, ev("gone", 3)))
        assert conn.response()[0] == 200
    finally:
        conn.close()
    wait_for(lambda: len(events(wire, "gone")) == 2)
    assert sorted(e["n"] for e in events(wire, "gone")) == [2, 3]  # type: ignore[index]


def test_one_thousand_connections_all_get_answers(tmp_path: Path) -> None:
    """A thousand keep-alive connections open at once, each sending events, all answered;
    then each starts a request it never finishes, and the deadline sweep, which checks a
    slice of the connections per loop turn, reaches every one of them."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    args = ["--max-connections", "2000", "--max-connections-per-address", "0"]
    args += ["--header-timeout", "2"]
    with run_server(tmp_path / "data", args=args) as server:
        key = server.api_key
        assert key is not None
        # Each connection sends its first request as soon as it is open: a new connection has
        # header_timeout (2 s) from connecting for its headers, and opening all thousand before
        # the first sent a byte took longer than that on a loaded machine (the first were cut)
        conns: list[Conn] = []
        try:
            for i in range(1000):
                conns.append(Conn(server.port))
                conns[-1].send(post(key, ev("thousand", i)))
            for rnd in range(2):
                if rnd:  # again on the same connections, kept alive
                    for i, conn in enumerate(conns):
                        conn.send(post(key, ev("thousand", rnd * 1000 + i)))
                codes = [orjson.loads(conn.response()[2])["code"] for conn in conns]
                assert codes == [0] * 1000
            for conn in conns:
                conn.send(b"POST /services/collector/event HTTP/1.1\r\nHost: x\r\n")
            assert [conn.response()[0] for conn in conns] == [408] * 1000
        finally:
            for conn in conns:
                conn.close()
        got = sorted(e["n"] for e in events(server, "thousand"))  # type: ignore[index]
    assert got == list(range(2000))
