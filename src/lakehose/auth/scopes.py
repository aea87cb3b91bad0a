"""OAuth2 scopes an API client can hold, and what each allows."""

from __future__ import annotations

STREAMS_READ = "streams:read"
SEARCH_READ = "search:read"
CONNECTORS_READ = "connectors:read"
CONNECTORS_WRITE = "connectors:write"
CLIENTS_WRITE = "clients:write"
METRICS_READ = "metrics:read"
ADMIN = "admin"

ALL_SCOPES: dict[str, str] = {
    STREAMS_READ: "discover and read event streams",
    SEARCH_READ: "search the lake",
    CONNECTORS_READ: "list and show connectors",
    CONNECTORS_WRITE: "create, change and delete connectors and their keys",
    CLIENTS_WRITE: "create, list and revoke API clients",
    METRICS_READ: "read /metrics and /api/v1/status when metrics_token is set",
    ADMIN: "everything above",
}

# A scope also grants the scopes listed for it.
_IMPLIES: dict[str, frozenset[str]] = {
    ADMIN: frozenset(ALL_SCOPES),
    CONNECTORS_WRITE: frozenset({CONNECTORS_WRITE, CONNECTORS_READ}),
}


def expand(scopes: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    out: set[str] = set()
    for s in scopes:
        out |= _IMPLIES.get(s, frozenset({s}))
    return frozenset(out)


def validate(scopes: list[str]) -> list[str]:
    """The scopes, de-duplicated and sorted; raises ValueError naming an unknown one."""
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(
            f"unknown scope {unknown[0]!r}; known scopes: {', '.join(sorted(ALL_SCOPES))}"
        )
    return sorted(set(scopes))
