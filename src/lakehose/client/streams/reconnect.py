"""What a stream consumer does next, written once as generators that its threads and tasks drive.

Theory of operation. :func:`discovery_flow` and :func:`partition_flow` hold every
decision about finding streams and keeping one partition's feed open, and do no I/O:
they yield a :class:`Discover` (ask for the streams; answered with a
:class:`Discovered`), a :class:`Connect` (open this feed URL and read it until it
ends; answered with a :class:`FeedEnd`) or a :class:`~lakehose.client.hec.flow.Wait`
(sleep; answered with None). ``StreamConsumer`` drives them on threads,
``AsyncStreamConsumer`` on tasks, so both behave the same by construction (the
pattern of ``_flow.send_flow`` and httpx's ``Auth.auth_flow``).

The rules:

- Discovery answers that name no stream for the partition (Falcon's answer while
  the appId is busy elsewhere), transport failures, 429 and 5xx are tried again
  after an exponential backoff with jitter (``Retry-After`` when given), for ever;
  other discovery errors (bad credentials, a missing scope, a refused appId) are
  final and raised to the caller.
- A feed is opened from the position the reader has reached (``offset=last+1``), or
  the start the caller chose. Whatever ends it — the session expired (the body
  ends), a dropped connection, a server restart, a 401 (stale session, or the appId
  still held by a dead connection the server has not noticed yet), a 5xx — the
  reader waits and discovers again, backing off while connections keep failing;
  one that delivered events resets the backoff. A 400 or 404 on the feed (an
  invalid offset, a partition that no longer exists) is final, and so is lakehose's
  416 (a start position retention has dropped, with ``on_out_of_range=error``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from lakehose.client._retry import RetryPolicy, backoff_delay
from lakehose.client.hec.flow import Wait
from lakehose.client.streams.discovery import Stream
from lakehose.errors import LakehoseError, RateLimitedError, ResponseError


@dataclass(frozen=True, slots=True)
class Discover:
    """Discover the streams (one per partition)."""


@dataclass(frozen=True, slots=True)
class Discovered:
    """Discovery's answer: the streams, or the error it raised."""

    streams: list[Stream]
    error: LakehoseError | None = None


@dataclass(frozen=True, slots=True)
class Connect:
    """Open ``url`` with ``stream``'s session token and read it until it ends."""

    stream: Stream
    url: str


@dataclass(frozen=True, slots=True)
class FeedEnd:
    """How a connection ended: ``status`` of the answer (None: no answer), how many lines
    of events it read (0: none), the error (None: the body ended cleanly), and whether
    the consumer is stopping."""

    status: int | None
    events: int = 0
    error: LakehoseError | None = None
    stopped: bool = False


Step = Discover | Connect | Wait
Reply = Discovered | FeedEnd | None


def _delay(attempt: int, error: LakehoseError | None, policy: RetryPolicy) -> float:
    retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
    return backoff_delay(attempt, retry_after, policy)


def discovery_flow(
    policy: RetryPolicy, partition: int | None = None
) -> Generator[Step, Reply, list[Stream]]:
    """Discover until it works; return the streams (holding ``partition``, if one is named)."""
    attempt = 0
    while True:
        found = yield Discover()
        assert isinstance(found, Discovered)
        if found.error is not None:
            if not found.error.retriable:
                raise found.error
            why = f"stream discovery failed ({found.error})"
        elif not found.streams:
            why = "stream discovery returned no streams (is the appId in use elsewhere?)"
        elif partition is not None and all(s.partition != partition for s in found.streams):
            why = f"stream discovery returned no stream for partition {partition}"
        else:
            return found.streams
        attempt += 1
        yield Wait(_delay(attempt, found.error, policy), why)


def _final(end: FeedEnd) -> bool:
    """A feed answer that trying again cannot fix."""
    error = end.error
    return isinstance(error, ResponseError) and error.status in (400, 404, 405, 410, 416)


def partition_flow(
    partition: int,
    feed_url_for: Callable[[Stream], str],
    policy: RetryPolicy,
    first: Stream | None = None,
) -> Generator[Step, Reply, None]:
    """Keep ``partition``'s feed open until the consumer stops; ``first`` is a fresh stream."""
    attempt = 0
    stream = first
    while True:
        if stream is None:
            streams = yield from discovery_flow(policy, partition)
            stream = next(s for s in streams if s.partition == partition)
        end = yield Connect(stream, feed_url_for(stream))
        stream = None
        assert isinstance(end, FeedEnd)
        if end.stopped:
            return
        if end.error is not None and _final(end):
            raise end.error
        if end.events:
            attempt = 0
        attempt += 1
        if end.error is None:
            why = f"partition {partition}: the feed ended (session over); discovering again"
        else:
            why = f"{end.error}; reconnecting"
        yield Wait(_delay(attempt, end.error, policy), why)
