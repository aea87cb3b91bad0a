"""``lakehose migrate --to``: a single-node lake copied into a cluster keeps its offsets, its
events, its connectors' keys, API clients, users and consumer positions; a second run, into
a whole lake or into what an interrupted run left, is refused and copies nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import nats
import orjson

from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import run_server
from tests.cluster.clusterkit import Lake, lh_json, namespace_for, nodes, send, token
from tests.helpers import cli_json, run_cli
from tests.server.streamkit import bearer, open_feed


def test_a_lake_migrated_into_a_cluster_keeps_offsets_keys_and_clients(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    data = tmp_path / "single"
    with run_server(data, args=["--partitions", "2"]) as single:
        key = single.api_key
        assert key is not None
        for i in range(5):
            assert send(single, key, [{"n": 10 * i + j} for j in range(10)]).status_code == 200
        reader = cli_json("client", "create", "mig-reader", "--scope", "streams:read",
                          data_dir=data)  # fmt: skip
        committed = httpx.post(
            f"{single.url}/api/v1/stream-groups/mig/commit", json={"partition": 0, "offset": 3},
            headers=bearer(token(single, reader)),
        )  # fmt: skip
        assert committed.status_code in (200, 201), committed.text
        before = {}
        for p, resource in enumerate(
            httpx.get(single.url + "/sensors/entities/datafeed/v2", params={"appId": "before"},
                      headers=bearer(token(single, reader))).json()["resources"]
        ):  # fmt: skip
            with open_feed(resource, "&offset=0") as feed:
                ends = httpx.get(single.url + "/api/v1/status").json()["resources"][0]
                count = ends["partitions"][p]["end_offset"]
                before[p] = [(e["metadata"]["offset"], e["event"]) for e in feed.events(count)]
    assert sum(len(v) for v in before.values()) == 50
    lake = Lake(nats_cluster.urls, namespace_for(tmp_path))
    code, out, err = run_cli(
        "migrate", "--to", lake.urls, "--data-dir", str(data), "--cluster-namespace",
        lake.namespace, "--json",
    )  # fmt: skip
    assert code == 0, err
    report = orjson.loads(out)
    assert report["catalog"]["connectors"] == 1 and report["catalog"]["clients"] == 1
    assert [p["end_offset"] for p in report["partitions"]] == [len(before[0]), len(before[1])]
    again = run_cli("migrate", "--to", lake.urls, "--data-dir", str(data),
                    "--cluster-namespace", lake.namespace)  # fmt: skip
    assert again[0] != 0 and "already holds a lake" in again[2]
    _refuses_what_an_interrupted_run_left(lake.urls, data, lake.namespace + "-half")
    with nodes(lake, tmp_path / "nodes", count=1) as (node,):
        assert node.api_key is None  # migrated, not bootstrapped: the old key works
        assert send(node, key, [{"n": "after"}]).status_code == 200
        resources = httpx.get(
            node.url + "/sensors/entities/datafeed/v2", params={"appId": "after"},
            headers=bearer(token(node, reader)),  # the client's secret came along
        ).json()["resources"]  # fmt: skip
        for p, resource in enumerate(resources):
            with open_feed(resource, "&offset=0") as feed:
                got = [(e["metadata"]["offset"], e["event"]) for e in feed.events(len(before[p]))]
            assert got == before[p]
        position = httpx.get(f"{node.url}/api/v1/stream-groups/mig",
                             headers=bearer(token(node, reader)))  # fmt: skip
        assert position.json()["resources"][0]["partitions"][0]["committed"] == 3
    assert [c["name"] for c in lh_json(lake, "connector", "list")] == ["default"]


async def _unmark(urls: str, namespace: str) -> int:
    """Make the lake ``namespace`` what an interrupted migrate leaves: its partitions copied,
    its catalog short of the partition count (written last); partition 0's message count."""
    nc = await nats.connect(urls.split(","))
    try:
        js = nc.jetstream()
        kv = await js.key_value(f"{namespace.upper().replace('-', '_')}_CATALOG")
        await kv.delete("set." + b"partitions".hex())
        info = await js.stream_info(f"{namespace.upper().replace('-', '_')}_P0")
        return int(info.state.messages)
    finally:
        await nc.close()


def _refuses_what_an_interrupted_run_left(urls: str, data: Path, namespace: str) -> None:
    args = ("migrate", "--to", urls, "--data-dir", str(data), "--cluster-namespace", namespace)
    assert run_cli(*args)[0] == 0
    messages = asyncio.run(_unmark(urls, namespace))
    code, _, err = run_cli(*args)
    assert code != 0 and "Traceback" not in err, err
    assert f"already holds part of a lake named {namespace!r}" in err, err
    assert f"{namespace.upper().replace('-', '_')}_P0 ({messages} messages)" in err, err
    assert asyncio.run(_unmark(urls, namespace)) == messages  # nothing copied a second time
