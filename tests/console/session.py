"""Helpers for console tests: users, signing in (browser or httpx), CSRF tokens, screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import cli

CHROMIUM = "/usr/bin/chromium"
# Hang guards, not timings: Chromium, the server and four test workers share two loaded cores
# in CI, where a page can take many seconds to settle (Playwright's own ``expect`` waits 5 s).
TIMEOUT_MS = 30_000
ADMIN, ANALYST = "admin", "analyst"
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_user(data_dir: Path, name: str, role: str, password: str) -> None:
    """``lakehose user create NAME --role ROLE --password-stdin``, as a script would."""
    cli("user", "create", name, "--role", role, "--password-stdin", data_dir=data_dir,
        input=password + "\n")  # fmt: skip


def sign_in(page: Any, username: str, password: str, next_path: str = "/console/status") -> None:
    """Sign in through the form, as a person does; ends on ``next_path``."""
    page.goto(f"/console/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (``test-artifacts/console/NAME.png``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def csrf_token(html: str) -> str:
    """The session's CSRF token from a console page."""
    found = _CSRF_META.search(html)
    assert found, "no csrf-token meta tag in the page"
    return found.group(1)


@contextmanager
def http_session(url: str, username: str, password: str) -> Iterator[httpx.Client]:
    """An httpx client signed in to the console (cookies kept), for non-browser checks.

    ``client.headers["X-CSRF-Token"]`` is set to the session's token, as htmx sends it.
    """
    with httpx.Client(base_url=url, timeout=30) as client:
        sign_in_http(client, username, password)
        yield client


def sign_in_http(client: httpx.Client, username: str, password: str) -> None:
    """Sign ``client`` in through the form; set its ``X-CSRF-Token`` header."""
    form = client.get("/console/login")
    token = _LOGIN_TOKEN.search(form.text)
    assert token, form.text
    reply = client.post(
        "/console/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token.group(1),
            "next": "/console/status",
        },
    )
    assert reply.status_code == 303, (reply.status_code, reply.text)
    page = client.get("/console/status")
    assert page.status_code == 200, page.text
    client.headers["X-CSRF-Token"] = csrf_token(page.text)
