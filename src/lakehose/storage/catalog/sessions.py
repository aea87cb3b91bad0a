"""Falcon stream sessions and the connection slots that keep one feed per appId and partition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StreamSession:
    """A data-feed session: what a session token opens, until when (epoch seconds)."""

    client_id: str
    app_id: str
    partition: int
    issued_at: float
    expires_at: float


class SessionCatalog(Protocol):
    """Stream sessions (a token opens one partition's feed until it expires) and slots."""

    def create_session(
        self,
        client_id: str,
        app_id: str,
        partition: int,
        ttl: float,
        issuer: bytes | None = None,
    ) -> tuple[str, StreamSession]:
        """A new session token for ``(client, appId, partition)``, valid ``ttl`` seconds;
        ``issuer`` is the digest of the bearer token that asked (revoking it ends the session)."""
        ...

    def reserve_sessions(self, client_id: str, count: int, limit: int, grace: float) -> None:
        """Delete sessions past their grace; LimitError if ``count`` more would exceed
        ``limit`` live sessions of the client."""
        ...

    def open_feeds(self, slot_prefix: str) -> int:
        """How many feed slots whose name starts with ``slot_prefix`` are held."""
        ...

    def check_session(self, token: str) -> StreamSession | None:
        """The session a token names (expired or not), or None if unknown or revoked."""
        ...

    def session_by_digest(self, token_digest: bytes, fresh: bool = True) -> StreamSession | None:
        """:meth:`check_session` by the token's digest; ``fresh=False`` reads what this
        process last saw (a remote catalog's watched copy, without a round trip: a feed's
        supervisor, woken by the change itself, checks its session this way)."""
        ...

    def refresh_sessions(self, client_id: str, app_id: str, ttl: float, grace: float = 0.0) -> int:
        """Extend every live session of ``(client, appId)``, all partitions; return how many.

        A session is live until ``grace`` seconds past its expiry. One refresh renews the
        whole appId, because some consumers only ever refresh partition 0.
        """
        ...

    def claim_connection(
        self,
        app_id: str,
        partition: int,
        owner: str,
        stale_after: float,
        position: int | None = None,
    ) -> bool:
        """Take the one live feed slot of ``(appId, partition)``; False if someone holds it.

        A slot whose heartbeat is older than ``stale_after`` seconds belonged to a process
        that died, and is taken over.
        """
        ...

    def heartbeat_connection(
        self, app_id: str, partition: int, owner: str, position: int | None = None
    ) -> bool:
        """Mark the slot alive (and note the feed's next offset); False if ``owner`` no longer
        holds it."""
        ...

    def open_connections(self) -> list[tuple[str, int, float, float, int | None]]:
        """Open data feeds: ``(app_id, partition, opened_at, last heartbeat, next offset as of
        that heartbeat)``, times in epoch s."""
        ...

    def connection_owner(self, app_id: str, partition: int) -> str | None:
        """Who holds the feed slot of ``(appId, partition)``, if anyone."""
        ...

    def release_connection(self, app_id: str, partition: int, owner: str) -> None: ...

    def release_all_connections(self) -> None:
        """At start-up: no feed connection of a previous run is alive."""
        ...
