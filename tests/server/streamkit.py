"""Helpers for stream tests: API clients and tokens, discovery, and a data-feed reader thread."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterable
from typing import Any

import httpx
import orjson

from lakehose.testing import RunningServer
from tests.helpers import cli_json

END = object()


def new_client(server: RunningServer, name: str, *scopes: str) -> dict[str, Any]:
    args = ["client", "create", name]
    for scope in scopes or ("streams:read",):
        args += ["--scope", scope]
    created: dict[str, Any] = cli_json(*args, data_dir=server.data_dir)
    return created


def token_of(server: RunningServer, client: dict[str, Any]) -> str:
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": client["client_id"], "client_secret": client["client_secret"]},
        timeout=60,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["access_token"])


def stream_token(server: RunningServer, name: str, *scopes: str) -> str:
    """A bearer token of a new API client (``streams:read`` unless other scopes are named)."""
    return token_of(server, new_client(server, name, *scopes))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def discover(server: RunningServer, token: str, app_id: str, **params: str) -> httpx.Response:
    return httpx.get(
        server.url + "/sensors/entities/datafeed/v2",
        params={"appId": app_id, **params},
        headers=bearer(token),
        timeout=60,  # a loaded cluster's catalog can take seconds
    )


def first_stream(server: RunningServer, token: str, app_id: str, **params: str) -> dict[str, Any]:
    """The partition-0 resource of a discovery that must succeed."""
    reply = discover(server, token, app_id, **params)
    assert reply.status_code == 200, reply.text
    resource: dict[str, Any] = reply.json()["resources"][0]
    return resource


def send(server: RunningServer, envelopes: Iterable[dict[str, Any]]) -> None:
    """Send HEC envelopes in one request with the server's bootstrap key."""
    body = b"".join(orjson.dumps(e) for e in envelopes)
    reply = httpx.post(
        server.hec_url, content=body, headers={"Authorization": f"Splunk {server.api_key}"}
    )
    assert reply.json() == {"text": "Success", "code": 0}, reply.text


def numbered(start: int, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"event": {"seq": n, **extra}} for n in range(start, start + count)]


class FeedReader:
    """An open data feed, read line by line on a thread (so tests can bound every wait)."""

    def __init__(self, url: str, session_token: str, headers: dict[str, str] | None = None):
        self.lines: queue.Queue[Any] = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(60.0))
        request = self._client.build_request(
            "GET", url, headers={"Authorization": f"Token {session_token}", **(headers or {})}
        )
        self.response = self._client.send(request, stream=True)
        self.status = self.response.status_code
        self.error: BaseException | None = None
        self.ended_cleanly = False
        if self.status != 200:
            self.body = self.response.read()
            self.response.close()
            self._client.close()
            self._thread: threading.Thread | None = None
            return
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        try:
            for chunk in self.response.iter_bytes():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    self.lines.put(line)
            self.ended_cleanly = True
        except BaseException as exc:  # the test closed the stream, or the server broke it
            self.error = exc
        finally:
            self.lines.put(END)

    def next_line(self, timeout: float = 30.0) -> Any:
        """The next raw line (bytes, without ``\\n``), or ``END``; fails after ``timeout``."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the feed within {timeout} s") from None

    def events(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The next ``count`` events (keep-alive lines skipped)."""
        out: list[dict[str, Any]] = []
        while len(out) < count:
            line = self.next_line(timeout)
            if line is END:
                raise AssertionError(f"the feed ended after {len(out)} of {count} events")
            if line.strip():
                out.append(orjson.loads(line))
        return out

    def wait_for_end(self, timeout: float = 30.0) -> list[bytes]:
        """Every line up to the end of the body."""
        seen = []
        while True:
            line = self.next_line(timeout)
            if line is END:
                return seen
            seen.append(line)

    def close(self) -> None:
        """Hang up now: shut the socket down, which also wakes the reader thread."""
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None and self._thread is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()
        self._client.close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_feed(resource: dict[str, Any], query: str = "", **headers: str) -> FeedReader:
    """Open a discovered stream the way CrowdStrike's examples do: dataFeedURL + '&…'."""
    return FeedReader(
        resource["dataFeedURL"] + query, resource["sessionToken"]["token"], headers or None
    )
