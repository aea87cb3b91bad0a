"""Failed sign-ins are limited per account and per address, before any password is checked."""

from __future__ import annotations

import httpx

from lakehose.testing import RunningServer
from tests.console.session import _LOGIN_TOKEN, ANALYST, PASSWORD, create_user


def attempt(client: httpx.Client, username: str, password: str, address: str) -> httpx.Response:
    """One sign-in; the form's token is read once (it lives as long as its cookie)."""
    token = client.headers.get("x-test-login-token")
    if token is None:
        found = _LOGIN_TOKEN.search(client.get("/console/login").text)
        assert found
        token = client.headers["x-test-login-token"] = found.group(1)
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers={"X-Forwarded-For": address},  # the loopback proxy is trusted by default
    )


def fail_until_refused(client: httpx.Client, users: list[str], addresses: list[str]) -> int:
    """Failed sign-ins until the limit answers 429; how many failed first (the buckets refill
    while a slow machine works, so a few more than the burst may pass)."""
    for i in range(300):
        reply = attempt(
            client, users[i % len(users)], "wrong password", addresses[i % len(addresses)]
        )
        if reply.status_code == 429:
            return i
        assert reply.status_code == 401
    raise AssertionError("never limited")


def right_password_refused(
    client: httpx.Client, users: list[str], addresses: list[str], user: str, address: str
) -> httpx.Response:
    """Over the limit, the right password is refused too. A bucket refills (one attempt every
    few seconds), so on a machine too slow to ask again before that, lock it again and retry."""
    for _ in range(5):
        fail_until_refused(client, users, addresses)
        reply = attempt(client, user, PASSWORD, address)
        if reply.status_code == 429:
            return reply
        assert reply.status_code == 303  # a token had refilled meanwhile
    raise AssertionError("the right password was never refused over the limit")


def test_failures_lock_the_account_then_the_address_before_any_password_check(
    console_server: RunningServer,
) -> None:
    create_user(console_server.data_dir, "locked", "analyst", PASSWORD)
    with httpx.Client(base_url=console_server.url) as client:
        # one account from many addresses: only the account's limit (10) counts
        many = [f"198.51.100.{i}" for i in range(1, 250)]
        assert fail_until_refused(client, ["locked"], many) >= 10
        locked = right_password_refused(client, ["locked"], many, "locked", "198.51.100.250")
        assert int(locked.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in locked.text
        assert "lakehose_session" not in locked.cookies

        # many accounts from one address: only the address's limit (30) counts
        users = [f"nobody{i}" for i in range(100)]
        assert fail_until_refused(client, users, ["203.0.113.50"]) >= 30
        right_password_refused(client, users, ["203.0.113.50"], ANALYST, "203.0.113.50")
        # the same account from another address is fine
        assert attempt(client, ANALYST, PASSWORD, "203.0.113.51").status_code == 303
