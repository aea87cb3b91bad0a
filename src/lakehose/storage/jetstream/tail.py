"""Follow a stream from a sequence on, forever, surviving restarts and leader changes.

Used by the partition index (headers only) and the catalog mirror. It is our own
*ordered push consumer*: an ephemeral consumer (no acks, memory, one replica) pushes every
message to a private inbox as soon as it is stored, so a change arrives in milliseconds
and a busy stream flows without a request per batch; each message is handed over with
its stream sequence, in order, once. The server numbers its deliveries (the consumer
sequence): a delivery that is not the one after the last (a message the client dropped,
a reconnect that lost some) ends the consumer, and so does silence past a few idle
heartbeats (its server died) or an error status; the loop then makes a new one from the
sequence after the last it delivered, so nothing is skipped or repeated. Flow control
requests are answered at once. :meth:`StreamTail.set_headers_only` switches payloads on
or off the same way: the consumer is made again from the next sequence.

(We first used a long-polling pull consumer. A pull request the client gave up on stays
open on the server until it expires and takes the next messages, so a busy follower either
stalled for a whole expiry or, allowed several requests, received batches meant for
abandoned requests; nothing of the kind exists here. nats-py's own ordered consumer is not
used because a failed re-creation there stops delivery for good.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from lakehose.errors import StorageError
from lakehose.storage.jetstream.link import NatsLink

log = logging.getLogger(__name__)

HEARTBEAT = 0.5  # seconds of idleness after which the server sends a heartbeat
SILENCE = 2.0  # seconds without a message or heartbeat: the consumer is gone
PENDING_MSGS = 1 << 20  # messages the inbox holds before the client drops (a gap: resync)
PENDING_BYTES = 512 * 1024 * 1024

_STATUS = "Status"
_DESCRIPTION = "Description"
_LAST_CONSUMER = "Nats-Last-Consumer"
_STALLED = "Nats-Consumer-Stalled"


class Resync(StorageError):
    """The consumer lost its place (gap, silence, error status): follow again."""


class Switched(Resync):
    """Payloads were switched on or off: follow again from the next message."""


class StreamTail:
    """Delivers every message of ``stream`` (matching ``subject``) to ``handle``, in order."""

    def __init__(
        self,
        link: NatsLink,
        stream: str,
        subject: str,
        handle: Callable[[int, Msg], Awaitable[None]],
        *,
        headers_only: bool = False,
    ) -> None:
        self.link = link
        self.stream = stream
        self.subject = subject
        self.handle = handle
        self.headers_only = headers_only
        self.delivered = 0  # the last stream sequence handed over
        self._renew: asyncio.Future[None] | None = None  # set: the consumer is made again
        self._task: asyncio.Task[None] | None = None
        self._deleting: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start following (on the link's loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def set_headers_only(self, headers_only: bool) -> None:
        """Follow with or without payloads from the next message on (on the link's loop):
        the consumer is made again from the sequence after the last delivered."""
        if headers_only != self.headers_only:
            self.headers_only = headers_only
            if self._renew is not None and not self._renew.done():
                self._renew.set_exception(Switched("payloads switched"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Switched:  # follow again at once, the other way
                pass
            except Exception as exc:  # lost the consumer or the connection: make a new one
                log.info("tail of %s: %s; following again", self.stream, exc)
                await asyncio.sleep(0.25)

    async def _follow(self) -> None:
        """One consumer's life: deliver until it loses its place (raises)."""
        nc = self.link.nc
        inbox = nc.new_inbox()
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._renew = ended
        state = {"cseq": 0, "heard": time.monotonic()}

        async def take(msg: Msg) -> None:
            if ended.done():
                return
            try:
                state["heard"] = time.monotonic()
                await self._take(msg, state)
            except Exception as exc:
                ended.set_exception(exc)

        sub = await nc.subscribe(
            inbox, cb=take, pending_msgs_limit=PENDING_MSGS, pending_bytes_limit=PENDING_BYTES
        )
        name = None
        try:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self.delivered + 1,
                ack_policy=AckPolicy.NONE,
                deliver_subject=inbox,
                filter_subject=self.subject,
                flow_control=True,
                idle_heartbeat=HEARTBEAT,
                headers_only=self.headers_only or None,
                inactive_threshold=30.0,
                mem_storage=True,
                num_replicas=1,
                max_deliver=1,
            )
            info = await self.link.js.add_consumer(self.stream, config)
            name = info.name
            state["heard"] = time.monotonic()
            while True:
                done, _ = await asyncio.wait([ended], timeout=HEARTBEAT)
                if done:
                    ended.result()  # raises why it ended
                if time.monotonic() - state["heard"] > SILENCE:
                    raise Resync("no message or heartbeat from the consumer")
        finally:
            if not ended.done():
                ended.cancel()
            try:
                await sub.unsubscribe()
            except Exception:
                pass
            if name is not None:
                task = asyncio.get_running_loop().create_task(self._delete(name))
                self._deleting.add(task)  # a reference, until it is done
                task.add_done_callback(self._deleting.discard)

    async def _delete(self, name: str) -> None:
        """Drop a consumer we left (it would age out anyway, after ``inactive_threshold``)."""
        try:
            await self.link.js.delete_consumer(self.stream, name)
        except Exception:
            pass

    async def _take(self, msg: Msg, state: dict[str, float]) -> None:
        headers = msg.headers
        status = headers.get(_STATUS) if headers else None
        if status is not None:
            assert headers is not None
            if status != "100":
                raise Resync(f"status {status} {headers.get(_DESCRIPTION, '')}".strip())
            if msg.reply:  # a flow control request
                await self.link.nc.publish(msg.reply)
            stalled = headers.get(_STALLED)
            if stalled:
                await self.link.nc.publish(stalled)
            last = headers.get(_LAST_CONSUMER)
            if last is not None and int(last) != state["cseq"]:
                raise Resync(f"heartbeat at delivery {last}, we have {state['cseq']:.0f}")
            return
        seqs = msg.metadata.sequence
        if seqs.consumer != state["cseq"] + 1:
            raise Resync(f"delivery {seqs.consumer} after {state['cseq']:.0f}")
        state["cseq"] = seqs.consumer
        if seqs.stream <= self.delivered:
            return
        await self.handle(seqs.stream, msg)
        self.delivered = seqs.stream
