"""What ``lakehose status`` and ``/api/v1/status`` show of a cluster: the lakehose nodes
serving the lake (their heartbeats, ``presence.py``), its NATS servers, and for every
stream of the lake (partitions and catalog buckets) its leader and replicas.

Read from JetStream's stream info (any client may ask it), so it needs no system account:
the servers listed are those holding a replica of one of the lake's streams, plus the one
this process is connected to. A replica is ``current`` when it has applied everything
the leader has, else it ``lag``\\ s by that many operations; ``offline`` when NATS says so,
or when its leader has not heard from it for ``SILENT`` seconds (replicas answer the
leader's heartbeats every second), or not at all since it took the lead and it is not
current: a server killed outright sends no goodbye, and NATS itself calls it offline only
minutes later, meanwhile still ``current`` for 10 s, then merely lagging.
A server is offline when every replica it holds is and it leads nothing.
"""

from __future__ import annotations

from typing import Any

from nats.js.errors import NotFoundError

from lakehose.storage.cluster.presence import read_nodes
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import NatsLink, link_for

BUCKETS = ("CATALOG", "ACKS", "LOG", "NODES")
SILENT = 5.0  # seconds without a word from a replica: offline


async def _stream(link: NatsLink, name: str) -> dict[str, Any] | None:
    try:
        info = await link.js.stream_info(name)
    except NotFoundError:  # not created yet (the ack bucket comes with the first ack)
        return None
    except Exception:  # no leader to answer
        return {"stream": name, "leader": None, "replicas": [], "messages": None, "bytes": None}
    cluster = info.cluster
    replicas = []
    for peer in (cluster.replicas if cluster and cluster.replicas else []) or []:
        active = (peer.active or 0) / 1e9  # since the leader last heard from it (0: never)
        silent = active > SILENT or (active == 0 and not peer.current)
        replicas.append(
            {
                "server": peer.name,
                "current": bool(peer.current),
                "offline": bool(peer.offline) or silent,
                "lag": int(peer.lag or 0),
                "active_seconds": round(active, 3),
            }
        )
    return {
        "stream": name,
        "leader": cluster.leader if cluster else None,
        "replicas": replicas,
        "messages": int(info.state.messages),
        "bytes": int(info.state.bytes),
    }


async def _status(link: NatsLink, layout: Layout, partitions: int) -> dict[str, Any]:
    names = [layout.stream(p) for p in range(partitions)]
    names += [f"KV_{layout.bucket(b)}" for b in BUCKETS]
    streams = [s for s in [await _stream(link, n) for n in names] if s is not None]
    servers: dict[str, dict[str, Any]] = {}
    for s in streams:
        if s["leader"]:
            servers.setdefault(s["leader"], {"server": s["leader"], "leads": 0, "offline": False})
            servers[s["leader"]]["leads"] += 1
        for r in s["replicas"]:
            entry = servers.setdefault(
                r["server"], {"server": r["server"], "leads": 0, "offline": True}
            )
            entry["offline"] = entry["offline"] and r["offline"]
    for entry in servers.values():
        entry["offline"] = entry["offline"] and not entry["leads"]
    nodes = await read_nodes(link, layout)
    nc = link.nc
    connected = nc.connected_url
    version = nc.connected_server_version
    return {
        "namespace": layout.namespace,
        "connected_to": f"{connected.hostname}:{connected.port}" if connected else None,
        "nats_version": f"{version.major}.{version.minor}.{version.patch}" if version else None,
        "nodes": nodes,
        "servers": sorted(servers.values(), key=lambda s: str(s["server"])),
        "streams": streams,
    }


def cluster_status(urls: str, namespace: str, partitions: int) -> dict[str, Any]:
    """The cluster as this process sees it (blocking: call it off an event loop)."""
    link = link_for(urls)
    return link.call(_status(link, Layout(namespace), partitions), timeout=30)


def replica_text(stream: dict[str, Any]) -> str:
    """``n2 current, n3 lag 12`` for a table cell."""
    parts = []
    for r in stream["replicas"]:
        state = "offline" if r["offline"] else "current" if r["current"] else f"lag {r['lag']}"
        parts.append(f"{r['server']} {state}")
    return ", ".join(parts) or "-"
