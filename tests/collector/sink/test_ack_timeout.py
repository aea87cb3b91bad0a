"""useAck: a batch whose ack never comes is sent again after ``ackTimeoutInMillisecond``;
a late ack of the first send settles it (no third copy). A real lakehose stores every
send, so the lake shows the at-least-once bound: one extra copy per timeout, no more."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from lakehose.testing import RunningServer
from tests.collector.sink.ackgate import ack_gate
from tests.collector.sink.sinktools import lake_numbers, marked, sink_for
from tests.collector.sink.test_sink_protocol import deliver
from tests.helpers import create_connector

EVENTS = 200


def test_a_batch_whose_ack_never_comes_is_sent_again_after_the_timeout(
    server: RunningServer, admin: httpx.Client, tmp_path: Path
) -> None:
    key = create_connector(admin, f"ackgate-{uuid.uuid4().hex[:6]}", use_ack=True)
    run = uuid.uuid4().hex[:12]
    with ack_gate(server) as gate:
        sink = sink_for(server, token=key, use_ack=True, ack_timeout_ms=500, url=gate.url)
        stats = deliver(sink, tmp_path, marked(run, 0, EVENTS))
    assert len(gate.posts) == 2  # the first send, then one resend whose ack came
    assert stats["sent"] == EVENTS and stats["retries"] == 1
    assert lake_numbers(server, run) == {n: 2 for n in range(EVENTS)}


def test_a_late_ack_of_the_first_send_settles_the_batch_without_a_third_copy(
    server: RunningServer, admin: httpx.Client, tmp_path: Path
) -> None:
    """The resend's ack never comes; the first send's does, after the resend."""
    key = create_connector(admin, f"ackgate-{uuid.uuid4().hex[:6]}", use_ack=True)
    run = uuid.uuid4().hex[:12]
    with ack_gate(server, release_first_after=1) as gate:
        sink = sink_for(server, token=key, use_ack=True, ack_timeout_ms=500, url=gate.url)
        stats = deliver(sink, tmp_path, marked(run, 0, EVENTS))
    assert len(gate.posts) == 2 and stats["sent"] == EVENTS and stats["retries"] == 1
    assert lake_numbers(server, run) == {n: 2 for n in range(EVENTS)}
