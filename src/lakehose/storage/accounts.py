"""Console accounts in the catalog: users with a role, their server-side sessions, the audit log.

A session is a random secret in an HttpOnly cookie; the catalog keeps only its
SHA-256 digest, with the user, a CSRF token, the address it began from and two
clocks. It ends at logout, after ``idle`` seconds without a request, or ``absolute``
seconds after sign-in, whichever comes first; disabling, deleting or re-passwording
a user ends all of theirs. Every worker reads the same table, so a logout is
everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["admin", "analyst"]
ROLES: tuple[Role, ...] = ("admin", "analyst")
TOUCH_EVERY = 15.0  # seconds: how stale last_seen may get before a request writes it


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A person who signs in to the console."""

    name: str
    role: Role
    disabled: bool
    created_at: int
    last_login: int | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "last_login": self.last_login,
        }


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser: whose, its CSRF token, where it signed in from, and when."""

    user: ConsoleUser
    csrf_token: str
    address: str
    created_at: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what to what, when and from where."""

    id: int
    at: float
    username: str
    action: str
    target: str
    detail: str
    address: str


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role {role!r} must be one of: {', '.join(ROLES)}")
    return role


class Accounts(Protocol):
    """What a catalog offers for accounts (SQLite: ``storage/sqlite/accounts.py``)."""

    def create_user(self, name: str, role: str, password_hash: str) -> ConsoleUser: ...

    def get_user(self, name: str) -> ConsoleUser: ...

    def list_users(self) -> list[ConsoleUser]: ...

    def password_hash(self, name: str) -> str | None:
        """The stored hash of an enabled user, or None (unknown or disabled)."""
        ...

    def set_password(self, name: str, password_hash: str) -> ConsoleUser:
        """A new password; the user's sessions end (a stolen session dies with the old one)."""
        ...

    def set_role(self, name: str, role: str) -> ConsoleUser: ...

    def set_disabled(self, name: str, disabled: bool) -> ConsoleUser: ...

    def delete_user(self, name: str) -> ConsoleUser: ...

    def create_session(self, name: str, address: str) -> tuple[str, ConsoleSession]:
        """Sign ``name`` in: a new session secret (for the cookie) and the session."""
        ...

    def session(self, secret: str, idle: float, absolute: float) -> ConsoleSession | None:
        """The live session a cookie names (and mark it used), or None; ends expired ones."""
        ...

    def end_session(self, secret: str) -> bool: ...

    def sweep_sessions(self, idle: float, absolute: float) -> int:
        """Delete sessions past either expiry; how many."""
        ...

    def session_count(self, name: str) -> int: ...

    def audit(
        self, username: str, action: str, target: str = "", detail: str = "", address: str = ""
    ) -> None: ...

    def audit_entries(self, limit: int = 200, before: int | None = None) -> list[AuditEntry]:
        """The newest entries first; ``before`` pages back from an entry id."""
        ...
