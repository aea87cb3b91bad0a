"""A loopback gate in front of a real lakehose that holds back indexer acknowledgements.

lakehose answers a HEC request only once the batch is committed, so its acks are true at
the first poll. To see what the sink does when an ack is late or never comes, the gate
passes every request through to the real server (the events really are stored) and then,
in the answers to ``/services/collector/ack``, reports as ``false`` the ack ids it is told
to hold back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import httpx
import orjson

from lakehose.testing import RunningServer
from tests.loopback import Answer, loopback_http

PASSED_HEADERS = ("authorization", "content-type", "content-encoding", "x-splunk-request-channel")


@dataclass
class AckGate:
    """``held``: ack ids answered ``false`` whatever the server says. ``posts``: the ack id
    the server gave each event request, in order. ``on_post(n)`` runs after the n-th one
    (from 0) was answered, to change ``held``."""

    url: str = ""
    held: set[int] = field(default_factory=set)
    posts: list[int] = field(default_factory=list)
    durable: set[int] = field(default_factory=set)
    """Ids the server said were durable (it forgets an id once it said so, as Splunk does)."""
    hold_first: bool = True
    release_first_after: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posted(self, ack_id: int) -> None:
        with self.lock:
            self.posts.append(ack_id)
            n = len(self.posts) - 1
            if n == 0 and self.hold_first:
                self.held.add(ack_id)
            if self.release_first_after is not None:
                if n >= 1:
                    self.held.add(ack_id)  # the resends are never acknowledged
                if n == self.release_first_after:
                    self.held.discard(self.posts[0])  # the first ack turns up, late

    def answer_acks(self, acks: dict[str, bool]) -> dict[str, bool]:
        with self.lock:
            self.durable.update(int(k) for k, v in acks.items() if v)
            return {k: int(k) in self.durable and int(k) not in self.held for k in acks}


@contextmanager
def ack_gate(server: RunningServer, **policy: object) -> Iterator[AckGate]:
    gate = AckGate(**policy)  # type: ignore[arg-type]

    def relay(request: BaseHTTPRequestHandler, body: bytes) -> Answer:
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_HEADERS}
        reply = upstream.post(request.path, content=body, headers=headers)
        content = reply.content
        if reply.status_code == 200 and request.path.endswith("/ack"):
            acks = orjson.loads(content)["acks"]
            content = orjson.dumps({"acks": gate.answer_acks(acks)})
        elif reply.status_code == 200:
            gate.posted(int(orjson.loads(content)["ackId"]))
        return reply.status_code, content, {}

    with httpx.Client(base_url=server.url, timeout=60) as upstream, loopback_http(relay) as url:
        gate.url = url
        yield gate
