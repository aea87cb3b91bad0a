"""Follow a stream from a sequence on, forever, surviving restarts and leader changes.

Used by the partition index (headers only) and the catalog mirror. It is a loop of
long-polling fetches on an ephemeral pull consumer (the server answers as soon as a
message is stored, so a change arrives in milliseconds without polling): each message
is handed over with its stream sequence, in order, once. Idle, it waits for one message;
once one came it drains in batches (waiting at most ``DRAIN_WAIT`` to fill one) until a
drain finds nothing. When the consumer is lost (a
server restarted, the connection dropped, the consumer aged out), the loop makes a new
one from the sequence after the last it delivered, so nothing is skipped or repeated.
We keep this loop ourselves rather than nats-py's ordered push consumer because a failed
re-creation there stops delivery for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from lakehose.storage.jetstream.link import NatsLink

log = logging.getLogger(__name__)

FETCH_BATCH = 512
DRAIN_WAIT = 0.02  # seconds a busy tail waits to fill a batch (nats-py waits for a full one)
FETCH_WAIT = 5.0  # seconds a fetch waits for a message before asking again


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
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start following (on the link's loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            sub = None
            try:
                config = ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=self.delivered + 1,
                    ack_policy=AckPolicy.NONE,
                    headers_only=self.headers_only or None,
                    inactive_threshold=120.0,
                    mem_storage=True,
                    num_replicas=1,
                    max_waiting=1,
                )
                sub = await self.link.js.pull_subscribe(
                    self.subject, stream=self.stream, config=config
                )
                idle = 0
                busy = False  # idle: wait long for one message; busy: drain in batches
                while True:
                    try:
                        if busy:
                            msgs = await sub.fetch(FETCH_BATCH, timeout=DRAIN_WAIT)
                        else:
                            msgs = await sub.fetch(1, timeout=FETCH_WAIT)
                    except (TimeoutError, nats.errors.TimeoutError):
                        if busy:
                            busy = False
                            continue
                        idle += 1
                        if idle % 2 == 0:
                            await sub.consumer_info()  # raises if the consumer was lost
                        continue
                    idle = 0
                    busy = True
                    for msg in msgs:
                        seq = msg.metadata.sequence.stream
                        if seq <= self.delivered:
                            continue
                        await self.handle(seq, msg)
                        self.delivered = seq
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # lost the consumer or the connection: make a new one
                log.info("tail of %s: %s; following again", self.stream, exc)
                await asyncio.sleep(0.25)
            finally:
                if sub is not None:
                    try:
                        await sub.unsubscribe()
                    except Exception:
                        pass
