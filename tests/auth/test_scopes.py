"""Scopes: what each one implies, and the validation that names an unknown one."""

from __future__ import annotations

import pytest

from lakehose.auth import scopes
from lakehose.auth.scopes import ALL_SCOPES, expand, validate


@pytest.mark.parametrize(
    ("held", "granted"),
    [
        ([], set()),
        (["streams:read"], {"streams:read"}),
        (["connectors:write"], {"connectors:write", "connectors:read"}),
        (["connectors:read"], {"connectors:read"}),
        (["streams:read", "search:read"], {"streams:read", "search:read"}),
        (["admin"], set(ALL_SCOPES)),
        (["admin", "streams:read"], set(ALL_SCOPES)),
        (["metrics:read", "connectors:write"],
         {"metrics:read", "connectors:write", "connectors:read"}),
    ],
)  # fmt: skip
def test_expand_adds_what_a_scope_implies(held: list[str], granted: set[str]) -> None:
    assert expand(held) == frozenset(granted)
    assert expand(frozenset(held)) == frozenset(granted)


def test_admin_is_every_scope_and_only_admin_implies_others() -> None:
    assert set(ALL_SCOPES) == {
        scopes.STREAMS_READ, scopes.SEARCH_READ, scopes.CONNECTORS_READ, scopes.CONNECTORS_WRITE,
        scopes.CLIENTS_WRITE, scopes.METRICS_READ, scopes.ADMIN,
    }  # fmt: skip
    for scope in set(ALL_SCOPES) - {scopes.ADMIN, scopes.CONNECTORS_WRITE}:
        assert expand([scope]) == {scope}


def test_validate_sorts_and_deduplicates() -> None:
    assert validate(["streams:read", "admin", "streams:read"]) == ["admin", "streams:read"]
    assert validate([]) == []


def test_validate_names_the_first_unknown_scope_and_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match="^unknown scope 'nope'; known scopes: admin, clients:write, "
        "connectors:read, connectors:write, metrics:read, search:read, streams:read$",
    ):
        validate(["admin", "nope", "worse"])
