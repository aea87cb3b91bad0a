"""Where a partition's kept messages start: ``base.p<p>`` in the bucket ``<NS>_LOG``.

Retention writes it before it purges (``{"seq": s, "offset": o}``: message ``s`` starts at
offset ``o``), so a process that follows the stream later counts offsets from there. The
record is a fact that never stops being true, so writing it early is always safe.
"""

from __future__ import annotations

import orjson
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import NatsLink, through_elections


async def log_bucket(link: NatsLink, layout: Layout, replicas: int = 3) -> KeyValue:
    config = KeyValueConfig(bucket=layout.bucket("LOG"), history=1, replicas=replicas)
    return await link.bucket(config)


async def read_base(link: NatsLink, layout: Layout, partition: int) -> tuple[int, int]:
    """``(sequence, offset)`` the partition's kept messages start at (``(1, 0)`` at first)."""
    kv = await log_bucket(link, layout)
    try:  # a bucket just created by another process may still be electing its leader
        entry = await through_elections(lambda: kv.get(f"base.p{partition}"))
    except KeyNotFoundError:
        return 1, 0
    record = orjson.loads(entry.value or b"{}")
    return int(record["seq"]), int(record["offset"])


async def write_base(link: NatsLink, layout: Layout, partition: int, seq: int, offset: int) -> None:
    kv = await log_bucket(link, layout)
    await kv.put(f"base.p{partition}", orjson.dumps({"seq": seq, "offset": offset}))
