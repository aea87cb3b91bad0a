"""The catalog contract (``storage/catalog/base.py``), run against every backend in ``backendkit``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lakehose.auth.secrets import digest
from lakehose.errors import ConflictError, NotFoundError
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.catalog.clients import LoginLimit
from lakehose.storage.refusals import Refusal
from tests.storage.backendkit import CATALOG_BACKENDS

Opener = Callable[[], Catalog]


@pytest.fixture(params=sorted(CATALOG_BACKENDS), ids=sorted(CATALOG_BACKENDS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens catalogs on one shared store (a second open is another process's view)."""
    opened: list[Catalog] = []
    if request.param == "jetstream":
        request.getfixturevalue("nats_cluster")  # a real 3-node cluster, R3 bucket

    def open_one() -> Catalog:
        opened.append(CATALOG_BACKENDS[request.param](tmp_path))
        return opened[-1]

    yield open_one
    for catalog in opened:
        catalog.close()


@pytest.fixture
def catalog(opener: Opener) -> Catalog:
    return opener()


def test_a_connector_key_is_shown_once_and_authenticates(catalog: Catalog) -> None:
    connector, key = catalog.create_connector("fw", description="firewall", parser="kv")
    assert (connector.name, connector.description, connector.parser) == ("fw", "firewall", "kv")
    assert catalog.connector_for_key(key) == connector
    assert catalog.connector_for_key(key + "x") is None
    index = catalog.key_index()
    assert list(index.by_digest.values()) == [connector]
    assert len(catalog.key_hints(connector.id)) == 1
    assert key not in repr(catalog.list_connectors())


def test_connectors_are_found_by_name_or_id_and_names_are_unique(catalog: Catalog) -> None:
    a, _ = catalog.create_connector("a")
    catalog.create_connector("b", enabled=False)
    assert catalog.get_connector("a") == catalog.get_connector(a.id) == a
    assert [c.name for c in catalog.list_connectors()] == ["a", "b"]
    with pytest.raises(ConflictError):
        catalog.create_connector("a")
    with pytest.raises(NotFoundError):
        catalog.get_connector("nope")
    with pytest.raises(ValueError):
        catalog.create_connector("bad name!")


def test_a_connector_update_rotate_and_delete(catalog: Catalog) -> None:
    connector, old_key = catalog.create_connector("fw")
    updated = catalog.update_connector("fw", enabled=False, allowed_indexes=["sec"])
    assert (updated.enabled, updated.allowed_indexes) == (False, ("sec",))
    _, new_key = catalog.rotate_key("fw")
    assert catalog.connector_for_key(old_key) is None  # rotation retires every old key
    assert catalog.connector_for_key(new_key) is not None
    assert catalog.delete_connector("fw").id == connector.id
    assert catalog.connector_for_key(new_key) is None
    with pytest.raises(NotFoundError):
        catalog.get_connector(connector.id)


def test_a_rotation_with_grace_keeps_the_old_key_until_it_ends(catalog: Catalog) -> None:
    connector, old_key = catalog.create_connector("fw")
    _, new_key = catalog.rotate_key("fw", grace=3600)
    assert catalog.connector_for_key(old_key) == catalog.connector_for_key(new_key) == connector
    hints = catalog.key_hints(connector.id)
    assert hints[0].startswith(f"…{old_key[-4:]} (until ") and hints[1] == f"…{new_key[-4:]}"
    index = catalog.key_index()
    old, new = (digest(k) for k in (old_key, new_key))
    assert index.connector(old, time.time()) == connector  # within its grace
    assert index.connector(old, time.time() + 7200) is None  # past it
    assert index.connector(new, time.time() + 7200) == connector
    _, newest = catalog.rotate_key("fw")  # no grace: every older key stops now
    assert catalog.connector_for_key(old_key) is catalog.connector_for_key(new_key) is None
    assert catalog.key_hints(connector.id) == [f"…{newest[-4:]}"]
    with pytest.raises(ValueError):
        catalog.rotate_key("fw", grace=-1)


def test_a_connectors_refusals_are_a_ring_newest_first(catalog: Catalog) -> None:
    a, _ = catalog.create_connector("a")
    b, _ = catalog.create_connector("b")

    def refusal(n: int) -> Refusal:
        return Refusal(float(n), "10.0.0.1", 400, 6, "Invalid data format", n, f"#{n}", "/x")

    catalog.record_refusals([(a.id, refusal(n)) for n in range(5)] + [(b.id, refusal(9))], 3)
    catalog.record_refusals([(a.id, refusal(5))], 3)
    assert [r.event_number for r in catalog.refusals(a.id, 10)] == [5, 4, 3]
    assert catalog.refusals(a.id, 2) == [refusal(5), refusal(4)]
    assert catalog.refusals(b.id, 10) == [refusal(9)]


def test_a_rotated_client_secret_retires_the_old_one_and_its_tokens(catalog: Catalog) -> None:
    client, old = catalog.create_client("reader", ["streams:read"])
    token, _ = catalog.issue_token(client, 60)
    _, new = catalog.rotate_client_secret("reader")
    assert catalog.check_client_secret(client.client_id, old) is None
    assert catalog.check_client_secret(client.client_id, new) == client
    assert catalog.check_token(token) is None
    catalog.revoke_client("reader")
    with pytest.raises(ValueError):
        catalog.rotate_client_secret("reader")


def test_a_client_secret_yields_tokens_until_revoked(catalog: Catalog) -> None:
    client, secret = catalog.create_client("reader", ["streams:read"])
    assert catalog.check_client_secret(client.client_id, secret) == client
    assert catalog.check_client_secret(client.client_id, secret + "x") is None
    token, info = catalog.issue_token(client, 60)
    checked = catalog.check_token(token)
    assert checked is not None
    assert (checked.client_id, checked.scopes, checked.expires_at) == (
        client.client_id,
        frozenset({"streams:read"}),
        info.expires_at,
    )
    assert catalog.revoke_token(token, "someone-else") is False
    assert catalog.revoke_token(token, client.client_id) is True
    assert catalog.check_token(token) is None
    second, _ = catalog.issue_token(client, 60)
    catalog.revoke_client("reader")
    assert catalog.check_token(second) is None
    assert catalog.check_client_secret(client.client_id, secret) is None
    assert catalog.list_clients() == []
    assert [c.name for c in catalog.list_clients(include_revoked=True)] == ["reader"]


def test_a_token_past_its_lifetime_grants_nothing(catalog: Catalog) -> None:
    client, _ = catalog.create_client("reader", ["search:read"])
    token, _ = catalog.issue_token(client, 0)
    assert catalog.check_token(token) is None


def test_failed_logins_make_the_next_one_wait(catalog: Catalog) -> None:
    limits = [LoginLimit("client:x", burst=2, per_second=0.01)]
    assert catalog.login_wait(limits) == 0.0
    catalog.login_failed(limits)
    assert catalog.login_wait(limits) == 0.0  # one of a burst of two
    catalog.login_failed(limits)
    assert catalog.login_wait(limits) > 10  # the bucket is empty: about 100 s to the next
    assert catalog.login_wait([LoginLimit("client:y", 2, 0.01)]) == 0.0


def test_a_refresh_renews_every_session_of_the_app(catalog: Catalog) -> None:
    token0, s0 = catalog.create_session("cid", "app", 0, 60)
    token1, _ = catalog.create_session("cid", "app", 1, 60)
    catalog.create_session("cid", "other", 0, 60)
    assert catalog.check_session(token0) == s0
    assert catalog.check_session("unknown") is None
    assert catalog.refresh_sessions("cid", "app", 600) == 2
    renewed = catalog.check_session(token1)
    assert renewed is not None and renewed.expires_at > s0.expires_at + 500


def test_one_feed_slot_per_app_and_partition(catalog: Catalog) -> None:
    assert catalog.claim_connection("app", 0, "one", stale_after=60)
    assert not catalog.claim_connection("app", 0, "two", stale_after=60)
    assert catalog.claim_connection("app", 1, "two", stale_after=60)
    assert catalog.connection_owner("app", 0) == "one"
    assert catalog.heartbeat_connection("app", 0, "one")
    assert not catalog.heartbeat_connection("app", 0, "two")
    assert catalog.claim_connection("app", 0, "two", stale_after=-1)  # "one" went stale
    assert catalog.heartbeat_connection("app", 0, "two", position=42)
    assert catalog.heartbeat_connection("app", 0, "two")  # no position: the last one stays
    assert catalog.claim_connection("app", 2, "two", stale_after=60, position=7)
    assert [(c[0], c[1], c[4]) for c in catalog.open_connections()] == [
        ("app", 0, 42),
        ("app", 1, None),
        ("app", 2, 7),
    ]
    catalog.release_connection("app", 0, "two")
    assert catalog.connection_owner("app", 0) is None
    catalog.release_all_connections()
    assert catalog.connection_owner("app", 1) is None


def test_settings_and_the_version_another_view_sees(opener: Opener) -> None:
    mine, theirs = opener(), opener()
    assert mine.set_setting_once("partitions", "2") == "2"
    assert theirs.set_setting_once("partitions", "4") == "2"  # set once, whoever comes first
    before = mine.data_version()
    theirs.set_setting("partitions", "4")
    assert mine.get_setting("partitions") == "4"
    assert mine.data_version() != before  # so workers know to reload their key index
    assert mine.get_setting("missing") is None


def test_a_setting_set_once_by_racing_views_has_one_value_for_all(opener: Opener) -> None:
    """Nodes starting together race for ``bootstrapped``: every one must get the winner's
    value back, whichever wrote first and however late its view learns of it."""
    views = [opener() for _ in range(4)]
    with ThreadPoolExecutor(len(views)) as pool:
        got = list(pool.map(lambda v: v[1].set_setting_once("raced", f"v{v[0]}"), enumerate(views)))
    assert len(set(got)) == 1 and got[0] in {f"v{i}" for i in range(len(views))}
    assert {v.get_setting("raced") for v in views} == set(got)
