"""API clients (the way out), their bearer tokens, and the limits on failed logins."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A way out: OAuth2 client credentials with scopes."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: int
    revoked_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scopes"] = list(self.scopes)
        return d


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What a valid bearer token grants."""

    client_id: str
    scopes: frozenset[str]
    issued_at: int
    expires_at: int
    digest: bytes = b""  # the token's SHA-256, to name it without the secret


@dataclass(frozen=True, slots=True)
class LoginLimit:
    """A token bucket of failed logins for one key (a client id or a source address)."""

    key: str
    burst: float
    per_second: float


class ClientCatalog(Protocol):
    """API clients and tokens. A secret is returned once, when created; stored hashed."""

    def create_client(self, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
        """Create an API client; return it and its secret (shown only now)."""
        ...

    def list_clients(self, include_revoked: bool = False) -> list[ApiClient]: ...

    def get_client(self, id_or_name: str) -> ApiClient: ...

    def revoke_client(self, id_or_name: str) -> ApiClient:
        """Revoke a client and every token and stream session it holds."""
        ...

    def rotate_client_secret(self, id_or_name: str) -> tuple[ApiClient, str]:
        """Give a client a new secret (shown only now); the old secret stops working, and so
        do the tokens issued with it."""
        ...

    def check_client_secret(self, client_id: str, secret: str) -> ApiClient | None:
        """The client if ``secret`` is right and the client is not revoked (constant time)."""
        ...

    def issue_token(
        self, client: ApiClient, ttl: int, limit: int | None = None
    ) -> tuple[str, AccessToken]:
        """A new bearer token; LimitError when the client holds ``limit`` live ones already.

        Expired and revoked tokens are deleted here, so the table holds live ones only."""
        ...

    def check_token(self, token: str) -> AccessToken | None:
        """What a bearer token grants, or None if unknown, expired or revoked."""
        ...

    def revoke_token(self, token: str, client_id: str | None = None) -> bool:
        """Revoke a bearer token (only if ``client_id`` holds it, when given), and end the
        stream sessions issued with it; True if it was live."""
        ...

    def login_wait(self, limits: list[LoginLimit]) -> float:
        """Seconds until another login attempt is allowed under every limit (0: now)."""
        ...

    def login_failed(self, limits: list[LoginLimit]) -> None:
        """Take one failed attempt from each limit's bucket; forget buckets that are full."""
        ...

    def locked_out(self, prefix: str, per_second: float) -> dict[str, float]:
        """Keys starting with ``prefix`` whose bucket holds less than one attempt now, and
        the seconds until it will."""
        ...
