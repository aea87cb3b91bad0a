"""Two ``lakehose serve --cluster`` nodes on a real 3-node NATS cluster, black-box.

What one node does, the other sees: connectors, keys and tokens made by the CLI or on one
node; events sent to A are searched and streamed from B with the same dense offsets; an
indexer ack id issued by A is polled on B; one data feed per appId and partition across
the cluster; server-kept consumer positions shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import lakehose
from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import RunningServer
from tests.cluster.clusterkit import Lake, http, lh, lh_json, namespace_for, nodes, send, token
from tests.console.session import sign_in_http
from tests.helpers import wait_for
from tests.server.streamkit import bearer, first_stream, open_feed

REFRESH = "/sensors/entities/datafeed-actions/v1/0"


@pytest.fixture(scope="module")
def lake(nats_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(nats_cluster.urls, namespace_for(tmp_path_factory.mktemp("lakename")))


@pytest.fixture(scope="module")
def ab(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningServer]]:
    # heartbeats every second: a taken-over feed notices within a second, not ten
    with nodes(
        lake, tmp_path_factory.mktemp("nodes"), args=["--heartbeat-interval", "1"]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def reader(lake: Lake) -> dict[str, Any]:
    created: dict[str, Any] = lh_json(
        lake, "client", "create", "cluster-reader", "--scope", "streams:read",
        "--scope", "search:read",
    )  # fmt: skip
    return created


def _status(reply: httpx.Response) -> tuple[int, Any]:
    return reply.status_code, reply.json()


def test_only_the_first_node_bootstraps_a_key(ab: list[RunningServer]) -> None:
    a, b = ab
    assert a.api_key is not None and b.api_key is None
    assert any("Send events with a connector's API key" in line for line in b.output)


def test_cli_changes_reach_every_node(lake: Lake, ab: list[RunningServer]) -> None:
    a, b = ab
    created = lh_json(lake, "connector", "create", "web")
    key = created["api_key"]
    for node in ab:  # a key created a moment ago works at once on every node
        assert _status(send(node, key, ["new"])) == (200, {"text": "Success", "code": 0})
    rotated = lh_json(lake, "connector", "rotate", "web")["api_key"]
    rotated_at = time.monotonic()  # the CLI has exited: the rotation is committed
    for node in ab:
        wait_for(lambda n=node: send(n, key, ["old"]).status_code == 403, timeout=60)
    print(f"\nrotation in effect on both nodes {time.monotonic() - rotated_at:.2f} s after")
    for node in ab:
        assert send(node, rotated, ["rotated"]).status_code == 200
    lh_json(lake, "connector", "disable", "web")
    for node in ab:
        wait_for(lambda n=node: send(n, rotated, ["off"]).status_code == 403, timeout=60)


def test_a_token_issued_by_one_node_works_on_the_other(
    ab: list[RunningServer], reader: dict[str, Any]
) -> None:
    a, b = ab
    issued = token(a, reader)
    reply = http.get(
        b.url + "/sensors/entities/datafeed/v2", params={"appId": "tok"}, headers=bearer(issued)
    )
    assert reply.status_code == 200, reply.text
    revoked = http.post(
        a.url + "/oauth2/revoke", data={"token": issued},
        auth=(reader["client_id"], reader["client_secret"]),
    )  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    wait_for(
        lambda: http.get(
            b.url + "/sensors/entities/datafeed/v2", params={"appId": "tok"},
            headers=bearer(issued),
        ).status_code == 401,
        timeout=60,
    )  # fmt: skip


def test_revoking_a_client_on_the_cli_ends_its_open_feed_on_b(
    lake: Lake, ab: list[RunningServer]
) -> None:
    _, b = ab
    created = lh_json(lake, "client", "create", "cut-reader", "--scope", "streams:read")
    resource = first_stream(b, token(b, created), "cut")
    with open_feed(resource, "&whence=2") as feed:
        assert feed.status == 200
        lh(lake, "client", "revoke", "cut-reader", "--yes")
        feed.wait_for_end(timeout=30)  # b's supervisor sees it in its watched catalog
        assert feed.ended_cleanly
    with open_feed(resource) as again:
        assert again.status == 401


def test_events_sent_to_a_are_searched_and_streamed_from_b(
    lake: Lake, ab: list[RunningServer], reader: dict[str, Any]
) -> None:
    a, b = ab
    key = a.api_key
    assert key is not None
    before = http.get(b.url + "/services/collector/health")
    assert before.status_code == 200
    for i in range(3):
        assert send(a, key, [{"n": 10 * i + j, "via": "a"} for j in range(10)]).status_code == 200
    assert send(b, key, [{"n": 100 + j, "via": "b"} for j in range(5)]).status_code == 200
    issued = token(b, reader)
    found = http.post(
        b.url + "/api/v1/search", json={"query": "via=a | count()"}, headers=bearer(issued)
    )
    assert found.status_code == 200, found.text
    assert found.json()["resources"] == [{"_count": 30}]
    # replay from the start through B, and again through A: the same events at the same offsets
    seen = {}
    for node, app in ((b, "replay-b"), (a, "replay-a")):
        resource = first_stream(node, token(node, reader), app)
        assert resource["dataFeedURL"].startswith(node.url)
        with open_feed(resource, "&offset=0") as feed:
            events = _until_ours(feed, 35)
        seen[app] = [(e["metadata"]["offset"], e["event"]) for e in events]
    assert seen["replay-a"] == seen["replay-b"]
    offsets = [o for o, _ in seen["replay-b"]]
    assert offsets == list(range(len(offsets)))  # dense from 0
    ours = [e for _, e in seen["replay-b"] if isinstance(e, dict) and "via" in e]
    assert sorted(e["n"] for e in ours) == [*range(30), *range(100, 105)]


def _until_ours(feed: Any, ours: int) -> list[dict[str, Any]]:
    """The feed's events up to the last of this test's ``ours`` (earlier tests stored some)."""
    events: list[dict[str, Any]] = []
    while sum(1 for e in events if isinstance(e["event"], dict) and "via" in e["event"]) < ours:
        events += feed.events(1)
    return events


def test_a_live_feed_on_b_sees_events_sent_to_a_and_b_refreshes_it(
    ab: list[RunningServer], reader: dict[str, Any]
) -> None:
    a, b = ab
    assert a.api_key is not None
    issued = token(b, reader)
    resource = first_stream(b, issued, "live")
    with open_feed(resource, "&start=latest") as feed:  # only what arrives from now
        marker = uuid.uuid4().hex
        assert send(a, a.api_key, [{"live": marker, "k": k} for k in range(3)]).status_code == 200
        events = feed.events(3)
        assert [e["event"]["live"] for e in events] == [marker] * 3
        offsets = [e["metadata"]["offset"] for e in events]
        assert offsets == list(range(offsets[0], offsets[0] + 3))
        refreshed = http.post(
            b.url + REFRESH,
            params={"action_name": "refresh_active_stream_session", "appId": "live"},
            headers=bearer(token(a, reader)),
        )
        assert refreshed.status_code == 200, refreshed.text


def test_a_filtered_feed_on_b_sends_only_the_matches_sent_to_a(
    ab: list[RunningServer], reader: dict[str, Any]
) -> None:
    a, b = ab
    assert a.api_key is not None
    marker = uuid.uuid4().hex
    sent = [{"f": marker, "who": who, "k": k} for k, who in enumerate("xyxyx")]
    stored = send(a, a.api_key, sent)
    assert stored.status_code == 200
    resource = first_stream(b, token(b, reader), "filtered")
    query = f"&start=earliest&filter=f%3D{marker}%20and%20who%3Dx"
    with open_feed(resource, query) as feed:  # read through b's cache and awaited fetches
        got = feed.events(3)
    assert [e["event"]["k"] for e in got] == [0, 2, 4]
    offsets = [e["metadata"]["offset"] for e in got]
    assert offsets == [offsets[0], offsets[0] + 2, offsets[0] + 4]  # their lake offsets


def test_an_ack_id_issued_by_a_is_polled_on_b(lake: Lake, ab: list[RunningServer]) -> None:
    a, b = ab
    key = lh_json(lake, "connector", "create", "acked", "--ack")["api_key"]
    channel = str(uuid.uuid4())
    headers = {"Authorization": f"Splunk {key}", "X-Splunk-Request-Channel": channel}
    ids = [
        http.post(a.hec_url, content=b'{"event":"acked"}', headers=headers).json() for _ in range(2)
    ]
    assert ids == [{"text": "Success", "code": 0, "ackId": i} for i in range(2)]
    reply = http.post(b.url + "/services/collector/ack", json={"acks": [0, 1, 2]}, headers=headers)
    assert reply.json() == {"acks": {"0": True, "1": True, "2": False}}
    again = http.post(a.url + "/services/collector/ack", json={"acks": [0, 1]}, headers=headers)
    assert again.json() == {"acks": {"0": False, "1": False}}
    # the next id comes from the cluster, whichever node issues it
    third = http.post(b.hec_url, content=b'{"event":"acked"}', headers=headers).json()
    assert third["ackId"] == 2


def test_one_feed_per_app_and_partition_across_the_cluster(
    ab: list[RunningServer], reader: dict[str, Any]
) -> None:
    a, b = ab
    first = first_stream(a, token(a, reader), "solo")
    with open_feed(first) as held:
        assert held.status == 200
        same_node = open_feed(first_stream(a, token(a, reader), "solo"))
        other_node = open_feed(first_stream(b, token(b, reader), "solo"))
        assert other_node.status == same_node.status != 200  # refused alike on either node
        assert orjson.loads(other_node.body)["errors"] == orjson.loads(same_node.body)["errors"]
        taker = open_feed(first_stream(b, token(b, reader), "solo"), "&takeover=true")
        with taker:
            assert taker.status == 200  # taken over from the other node
            wait_for(lambda: held.error is not None or held.ended_cleanly, timeout=40)


def test_consumer_positions_are_shared(ab: list[RunningServer], reader: dict[str, Any]) -> None:
    a, b = ab
    assert a.api_key is not None
    assert send(a, a.api_key, [{"pos": n} for n in range(10)]).status_code == 200
    committer = token(a, reader)
    reply = http.post(
        f"{a.url}/api/v1/stream-groups/shared/commit", json={"partition": 0, "offset": 7},
        headers=bearer(committer),
    )  # fmt: skip
    assert reply.status_code in (200, 201), reply.text
    on_b = http.get(f"{b.url}/api/v1/stream-groups/shared", headers=bearer(token(b, reader)))
    assert on_b.status_code == 200, on_b.text
    assert on_b.json()["resources"][0]["partitions"][0]["committed"] == 7
    resource = first_stream(b, token(b, reader), "shared")
    with open_feed(resource, "&start=committed") as feed:
        assert feed.events(1)[0]["metadata"]["offset"] == 8


def test_the_cli_searches_the_cluster(lake: Lake, ab: list[RunningServer]) -> None:
    a, b = ab
    assert a.api_key is not None
    marker = uuid.uuid4().hex
    assert send(b, a.api_key, [{"cli": marker, "n": n} for n in range(4)]).status_code == 200
    out = lh(lake, "search", f"cli={marker}", "--json").stdout
    rows = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    assert sorted(r["event"]["n"] for r in rows) == list(range(4))


def test_status_shows_the_cluster(lake: Lake, ab: list[RunningServer]) -> None:
    a, _ = ab

    def both_listed() -> dict[str, Any] | None:
        """The cluster once both nodes' heartbeats are in it: each node's own thread writes
        them every second, and a read of the bucket that fails lists none (status must not
        fail when the bucket has no quorum), so a loaded machine can show none for a while."""
        reply = http.get(a.url + "/api/v1/status")
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()["resources"][0]["cluster"]
        return found if len(found["nodes"]) == len(ab) else None

    cluster = wait_for(both_listed, timeout=60, interval=0.5)
    assert cluster["namespace"] == lake.namespace
    assert sorted(s["server"] for s in cluster["servers"]) == ["n1", "n2", "n3"]
    streams = {s["stream"]: s for s in cluster["streams"]}
    partition = streams[f"{lake.namespace.upper()}_P0"]
    assert partition["leader"] in ("n1", "n2", "n3")
    assert len(partition["replicas"]) == 2  # R3: the leader and two followers
    assert f"KV_{lake.namespace.upper()}_CATALOG" in streams
    # the lakehose nodes, from their heartbeats: address, version, last seen
    listed = {n["url"]: n for n in cluster["nodes"]}
    assert sorted(listed) == sorted(n.url for n in ab)
    for n in listed.values():
        assert n["version"] == lakehose.__version__ and not n["stale"]
        assert 0 <= n["seen_seconds_ago"] < 30 and n["name"].endswith("/run")
    shown = lh_json(lake, "status")["cluster"]
    assert {s["stream"] for s in shown["streams"]} == set(streams)
    assert sorted(n["url"] for n in shown["nodes"]) == sorted(listed)
    text = lh(lake, "status").stdout
    assert "LEADER" in text and f"{lake.namespace.upper()}_P0" in text
    for node in ab:
        assert f"at {node.url}, lakehose {lakehose.__version__}, last seen" in text


def test_a_user_made_by_the_cli_signs_in_on_either_node(
    lake: Lake, ab: list[RunningServer]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    made = subprocess.run(
        [sys.executable, "-m", "lakehose", "user", "create", "ana", "--role", "analyst",
         "--password-stdin", "--cluster", lake.urls],
        input="correct horse battery staple\n", capture_output=True, text=True,
        env={**env, **lake.env()}, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for node in ab:  # a console session signed in on either node
        with httpx.Client(base_url=node.url, timeout=30) as client:
            sign_in_http(client, "ana", "correct horse battery staple")
    assert [u["name"] for u in lh_json(lake, "user", "list")] == ["ana"]


def test_admin_commands_name_the_lake_by_flag_or_by_a_toml_list_of_urls(
    lake: Lake, ab: list[RunningServer], tmp_path: Path
) -> None:
    """Without $LAKEHOSE_CLUSTER_NAMESPACE: ``--cluster-namespace`` as ``serve`` and
    ``migrate`` take it, and ``cluster`` in ``lakehose.toml`` as a list of URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    expected = [c["name"] for c in lh_json(lake, "connector", "list")]
    flagged = subprocess.run(
        [sys.executable, "-m", "lakehose", "connector", "list", "--json", "--cluster",
         lake.urls, "--cluster-namespace", lake.namespace],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    assert [c["name"] for c in orjson.loads(flagged.stdout)] == expected
    urls = ", ".join(f'"{u}"' for u in lake.urls.split(","))
    config = tmp_path / "lakehose.toml"
    config.write_text(f'cluster = [{urls}]\ncluster_namespace = "{lake.namespace}"\n')
    configured = subprocess.run(
        [sys.executable, "-m", "lakehose", "connector", "list", "--json", "--config",
         str(config)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    assert [c["name"] for c in orjson.loads(configured.stdout)] == expected


def test_connector_create_on_the_cli_points_at_a_live_node(
    lake: Lake, ab: list[RunningServer]
) -> None:
    """The CLI runs away from every node: the HEC URL and the curl line it prints are a
    running node's (from the heartbeats), not a guess at 127.0.0.1:8088, and they work."""
    created = lh_json(lake, "connector", "create", "pointed")
    assert created["hec_url"] in [n.hec_url for n in ab], created["hec_url"]
    sent = http.post(
        created["hec_url"], content=orjson.dumps({"event": "pointed"}),
        headers={"Authorization": f"Splunk {created['api_key']}"},
    )  # fmt: skip
    assert sent.json() == {"text": "Success", "code": 0}
