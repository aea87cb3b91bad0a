"""A JetStream key-value bucket mirrored in memory by a watch: the catalog's store.

Theory of operation
-------------------
The catalog lives in one replicated bucket (``<NS>_CATALOG``), keys prefixed by concept
(``conn.``, ``key.``, ``client.``, ``token.``, ``sess.``, ``slot.``, ``login.``, ``set.``).
Each process watches the bucket's stream from its first message (``tail.py``): every put and delete, from any node, lands in :attr:`KvMirror.entries` within
milliseconds; nothing polls. A read first :meth:`sync`\\ s (one round trip: the bucket's
last sequence, then waits for the watch to have applied it), so a process reads what
another wrote before it answered, as with a shared database.

Writes are single-key compare-and-set (``create`` fails if the key exists, ``update``
if its revision moved), which is enough for unique names, slots and counters; the few
multi-key changes (a connector and its key) are ordered so a crash between them leaves
at most an unreachable record, never a key that opens the wrong connector.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js.api import KeyValueConfig
from nats.js.errors import (
    BadRequestError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue

from lakehose.errors import ConflictError, StorageError
from lakehose.storage.jetstream.link import NatsLink
from lakehose.storage.jetstream.tail import StreamTail

SYNC_WAIT = 120.0  # seconds a read waits for the watch (a hang guard; load can make it slow)
WRITE_DEADLINE = 30.0  # seconds a catalog write is retried through an election


class CasFailed(ConflictError):
    """A compare-and-set lost to another writer."""

    def __init__(self, key: str) -> None:
        super().__init__("key", key)


def hex_key(text: str) -> str:
    """Any text as a KV key token (KV keys allow only a few characters)."""
    return text.encode("utf-8", "surrogatepass").hex() or "-"


class KvMirror:
    """One bucket, mirrored; thread-safe. Values are bytes, keys KV-safe strings."""

    def __init__(self, link: NatsLink, bucket: str, replicas: int) -> None:
        self.link = link
        self.bucket = bucket
        self.stream = f"KV_{bucket}"
        self.entries: dict[str, tuple[bytes, int]] = {}  # key -> (value, revision)
        self.applied = 0
        self._cond = threading.Condition()
        self.kv: KeyValue = link.call(self._open(replicas))

    async def _open(self, replicas: int) -> KeyValue:
        kv = await self.link.bucket(
            KeyValueConfig(bucket=self.bucket, history=1, replicas=replicas)
        )
        self._tail = StreamTail(self.link, self.stream, f"$KV.{self.bucket}.>", self._on_message)
        self._tail.start()
        return kv

    async def _on_message(self, seq: int, msg: Msg) -> None:
        key = msg.subject[len(f"$KV.{self.bucket}.") :]
        op = (msg.headers or {}).get("KV-Operation")
        with self._cond:
            if seq <= self.applied:
                return
            self.applied = seq
            if op in ("DEL", "PURGE"):
                self.entries.pop(key, None)
            else:
                self.entries[key] = (msg.data, seq)
            self._cond.notify_all()

    # reading -----------------------------------------------------------------------------

    async def _last_seq(self) -> int:
        info = await self.link.js.stream_info(self.stream)
        return int(info.state.last_seq)

    def sync(self) -> int:
        """Wait until the mirror holds what the bucket holds now; the applied sequence."""
        try:
            last = self.link.call(self._last_seq())
        except Exception as exc:
            raise StorageError(f"the catalog is unreachable: {exc}") from exc
        with self._cond:
            self._cond.wait_for(lambda: self.applied >= last, SYNC_WAIT)
            return self.applied

    def get(self, key: str, sync: bool = True) -> tuple[bytes, int] | None:
        if sync:
            self.sync()
        with self._cond:
            return self.entries.get(key)

    def items(self, prefix: str, sync: bool = True) -> Iterator[tuple[str, bytes, int]]:
        """``(key, value, revision)`` of every key starting with ``prefix`` (a snapshot)."""
        if sync:
            self.sync()
        with self._cond:
            found = [(k, v, r) for k, (v, r) in self.entries.items() if k.startswith(prefix)]
        return iter(sorted(found))

    # writing (compare-and-set) ---------------------------------------------------------------

    def _wait_applied(self, revision: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.applied >= revision, SYNC_WAIT)

    def _retry(self, make: Callable[[], Coroutine[Any, Any, int]]) -> int:
        """Run a write, again while the bucket has no leader (an election) or times out."""
        deadline = time.monotonic() + WRITE_DEADLINE
        while True:
            try:
                return int(self.link.call(make()))
            except (
                NoRespondersError,
                NoStreamResponseError,
                TimeoutError,
                ServiceUnavailableError,
            ):
                if time.monotonic() > deadline:
                    raise StorageError("the catalog has no quorum") from None
                time.sleep(0.1)

    def put(self, key: str, value: bytes) -> int:
        revision = self._retry(lambda: self.kv.put(key, value))
        self._wait_applied(revision)
        return revision

    def create(self, key: str, value: bytes) -> int:
        """Store ``key`` only if it does not exist; CasFailed if it does."""
        try:
            revision = self._retry(lambda: self.kv.create(key, value))
        except (KeyWrongLastSequenceError, BadRequestError, KeyNotFoundError) as exc:
            # KeyNotFoundError: lost the race, and nats-py's look at the winner's key asked
            # a replica that does not hold it yet
            raise CasFailed(key) from exc
        self._wait_applied(revision)
        return revision

    def create_or_get(self, key: str, value: bytes) -> bytes:
        """Store ``key`` if it does not exist and return what is stored: ``value``, or the
        value of a writer that was first. The stream's leader can refuse our create for a
        winner's key before this mirror (or the replica nats-py asked) holds it, above all
        while a bucket is new or a server restarts, so a refusal with nothing to read is
        asked again rather than taken as "absent"."""
        deadline = time.monotonic() + WRITE_DEADLINE
        while True:
            try:
                self.create(key, value)
                return value
            except CasFailed:
                found = self.get(key)
                if found is not None:
                    return found[0]
            if time.monotonic() > deadline:
                raise StorageError(f"the catalog refused {key!r} and does not show it")
            time.sleep(0.05)

    def update(self, key: str, value: bytes, revision: int) -> int:
        """Replace ``key`` only if it is still at ``revision``; CasFailed if it moved."""
        try:
            new = self._retry(lambda: self.kv.update(key, value, last=revision))
        except (KeyWrongLastSequenceError, BadRequestError) as exc:
            raise CasFailed(key) from exc
        self._wait_applied(new)
        return new

    def change(
        self, key: str, make: Callable[[tuple[bytes, int] | None], bytes], sync: bool = True
    ) -> int:
        """Read, modify and write ``key`` until no other writer raced: ``make`` gets what
        is stored (``(value, revision)``, None if nothing) and returns the new value."""
        while True:
            found = self.get(key, sync)
            value = make(found)
            try:
                if found is None:
                    return self.create(key, value)
                return self.update(key, value, found[1])
            except CasFailed:
                continue

    def delete(self, key: str, revision: int | None = None) -> bool:
        """Delete ``key`` (only at ``revision``, when given); False if that lost a race."""
        try:
            self.link.call(self.kv.delete(key, last=revision))
        except (KeyWrongLastSequenceError, BadRequestError):
            return False
        self.sync()
        return True
