"""Which lakehose nodes serve a lake on a cluster: heartbeats in a KV bucket with a TTL.

Every ``lakehose serve --cluster`` node puts ``node.<hex name>`` in ``<NS>_NODES`` every
``BEAT`` seconds (its name, address, version, start and last-seen times); the bucket's
entries expire ``TTL`` seconds after their last put, so a node that died leaves the list
on its own, and a node stopped cleanly removes itself at once. ``lakehose status`` and
``/api/v1/status`` list what is there, with how long ago each node was last seen: more
than ``STALE`` seconds means its heartbeats stopped reaching the cluster.

A node's name is the catalog's (``cluster/catalog.py``: host and run directory), the same
across its restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import nats
import orjson
from nats.js.api import KeyValueConfig
from nats.js.errors import NoKeysError, NotFoundError
from nats.js.kv import KeyValue

import lakehose
from lakehose.storage.jetstream.kvstore import hex_key
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import NatsLink, link_for

BEAT = 5.0  # seconds between a node's heartbeats
TTL = 30.0  # seconds a heartbeat is kept: a dead node leaves the list after this
STALE = 3 * BEAT  # seconds without a heartbeat before status calls a node stale
log = logging.getLogger(__name__)


async def nodes_bucket(link: NatsLink, layout: Layout, replicas: int, create: bool) -> KeyValue:
    name = layout.bucket("NODES")
    try:
        return await link.js.key_value(name)
    except Exception:  # not there yet
        if not create:
            raise NotFoundError from None
        return await link.bucket(KeyValueConfig(bucket=name, history=1, replicas=replicas, ttl=TTL))


async def read_nodes(link: NatsLink, layout: Layout) -> list[dict[str, Any]]:
    """Every node whose heartbeat is kept, by name, with ``seen_seconds_ago`` and ``stale``."""
    try:
        kv = await nodes_bucket(link, layout, 1, create=False)
        keys = await kv.keys()
    except (NotFoundError, NoKeysError):
        return []
    except (nats.errors.Error, TimeoutError) as exc:  # no quorum: the bucket cannot be read
        log.info("lakehose nodes not listed: %s", exc)
        return []
    now = time.time()
    out = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except Exception:  # expired or deleted since listed
            continue
        if not entry.value:
            continue
        record = orjson.loads(entry.value)
        ago = max(0.0, now - float(record.get("seen_at", 0)))
        out.append({**record, "seen_seconds_ago": round(ago, 1), "stale": ago > STALE})
    return sorted(out, key=lambda n: str(n.get("name")))


class Heartbeat:
    """A node's heartbeat thread: :meth:`start` when serving, :meth:`stop` when done."""

    def __init__(self, urls: str, namespace: str, replicas: int, name: str, url: str) -> None:
        self.link = link_for(urls)
        self.layout = Layout(namespace)
        self.replicas = replicas
        self.key = "node." + hex_key(name)
        self.record = {
            "name": name,
            "url": url,
            "version": lakehose.__version__,
            "started_at": round(time.time(), 3),
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    async def _beat(self) -> None:
        kv = await nodes_bucket(self.link, self.layout, self.replicas, create=True)
        await kv.put(self.key, orjson.dumps({**self.record, "seen_at": round(time.time(), 3)}))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.link.call(self._beat(), timeout=BEAT * 2)
            except Exception as exc:  # the cluster is away: status will show the node stale
                log.debug("heartbeat not stored: %s", exc)
            self._stop.wait(BEAT)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and leave the list (best effort: else the TTL removes the node). With
        no NATS server reachable, do not wait for either: a stopping node must not keep a
        service manager waiting (a beat in flight waits up to 10 s for its answer)."""
        self._stop.set()
        self._thread.join(1)
        if not self.link.nc.is_connected:
            log.debug("heartbeat not removed: no NATS server reachable")
            return

        async def leave() -> None:
            kv = await nodes_bucket(self.link, self.layout, self.replicas, create=False)
            await kv.delete(self.key)

        try:
            self.link.call(leave(), timeout=5)
        except Exception as exc:
            log.debug("heartbeat not removed: %s", exc)
