"""Faults with real processes: a lakehose node SIGKILLed under load loses no acknowledged
event; a node whose only NATS server is cut off (SIGSTOP) answers 503 code 9 and never
acknowledges what the quorum did not take. The cluster is this module's own, since it is
broken on purpose.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import RunningServer
from tests.cluster.clusterkit import Lake, lh_json, nodes, send, token
from tests.server.streamkit import first_stream, open_feed

BUSY = {"text": "Server is busy", "code": 9}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    with DevCluster(tmp_path_factory.mktemp("nats"), nodes=3) as running:
        yield running


class Sender(threading.Thread):
    """Sends numbered events, 20 a request, to one node until stopped; keeps what got a 200."""

    def __init__(self, node: RunningServer, key: str, name: str) -> None:
        super().__init__(daemon=True)
        self.node, self.key, self.label = node, key, name
        self.acked: list[str] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                ids = [f"{self.label}-{n}-{i}" for i in range(20)]
                body = b"".join(orjson.dumps({"event": {"id": i}}) for i in ids)
                try:
                    reply = client.post(
                        self.node.hec_url, content=body,
                        headers={"Authorization": f"Splunk {self.key}"},
                    )  # fmt: skip
                except httpx.HTTPError:
                    self.failed += 1
                    time.sleep(0.05)
                    continue
                if reply.status_code == 200:
                    self.acked += ids
                else:
                    self.failed += 1


def stored_ids(node: RunningServer, lake: Lake, app: str) -> tuple[list[str], list[int]]:
    """Every event id in the lake, read by replaying partition 0 from offset 0, and the offsets."""
    reader = lh_json(lake, "client", "create", f"check-{app}", "--scope", "streams:read")
    resource = first_stream(node, token(node, reader), app)
    ids: list[str] = []
    offsets: list[int] = []
    with open_feed(resource, "&offset=0") as feed:
        while True:
            try:
                event = feed.events(1, timeout=2)[0]
            except AssertionError:  # quiet for 2 s: the replay reached the end
                break
            offsets.append(event["metadata"]["offset"])
            if isinstance(event["event"], dict) and "id" in event["event"]:
                ids.append(event["event"]["id"])
    return ids, offsets


def test_a_node_killed_under_load_loses_no_acknowledged_event(
    cluster: DevCluster, tmp_path: Path
) -> None:
    lake = Lake(cluster.urls, "killnode")
    with nodes(lake, tmp_path, count=2) as (a, b):
        key = a.api_key
        assert key is not None
        senders = [Sender(a, key, "a1"), Sender(b, key, "b1"), Sender(b, key, "b2")]
        for s in senders:
            s.start()
        deadline = time.monotonic() + 30
        while len(senders[1].acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        b.kill()  # SIGKILL, its workers with it, mid-request
        time.sleep(1.0)
        for s in senders:
            s.stop.set()
            s.join(30)
        acked = [i for s in senders for i in s.acked]
        assert len(senders[1].acked) >= 100 and senders[0].acked
        ids, offsets = stored_ids(a, lake, "killcheck")
    assert offsets == list(range(len(offsets)))  # dense from 0
    counts = Counter(ids)
    assert not [i for i in acked if counts[i] != 1], "an acknowledged event lost or doubled"
    print(f"\nnode kill: {len(acked)} events acknowledged, all stored once; {len(ids)} stored")


def test_a_node_cut_off_from_the_quorum_answers_503_code_9(
    cluster: DevCluster, tmp_path: Path
) -> None:
    lake = Lake(cluster.urls, "minority")
    n1, n2, n3 = cluster.nodes
    majority = f"{n1.url},{n2.url}"
    with nodes(
        lake, tmp_path, count=2, urls=[majority, n3.url], args=["--cluster-ack-timeout", "2"]
    ) as (a, cut):
        key = a.api_key
        assert key is not None
        assert send(cut, key, [{"id": "before"}]).status_code == 200
        n3.signal(19)  # SIGSTOP: n3 and the node that reaches only it are the minority
        try:
            refused = send(cut, key, [{"id": f"cut-{i}"} for i in range(5)])
            assert (refused.status_code, refused.json()) == (503, BUSY)
            assert refused.headers["Retry-After"]
            # the majority side keeps acknowledging (after an election if n3 led)
            deadline = time.monotonic() + 30
            while send(a, key, [{"id": "majority"}]).status_code != 200:
                assert time.monotonic() < deadline, "the majority side never acknowledged"
        finally:
            n3.signal(18)  # SIGCONT
        # healed: the cut node acknowledges again once its server is back
        deadline = time.monotonic() + 60
        while send(cut, key, [{"id": "after"}]).status_code != 200:
            assert time.monotonic() < deadline, "the node did not recover"
        ids, offsets = stored_ids(a, lake, "minoritycheck")
    assert offsets == list(range(len(offsets)))
    assert ids.count("before") == 1 and "majority" in ids and "after" in ids
