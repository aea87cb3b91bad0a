"""Browser fixtures: a real ``lakehose serve`` with two console users, and Chromium pages on it.

Playwright (from PyPI) drives Debian's ``/usr/bin/chromium`` (the Makefile installs
it when missing); no browser is ever downloaded. Screenshots go to
``test-artifacts/console/`` (gitignored), one per page a test visits.

Fixtures:
- ``console_server``: one server for the package's tests, with users ``admin`` (role admin) and
  ``analyst`` (role analyst), both with password :data:`PASSWORD`;
- ``browser``: one headless Chromium for the package's tests;
- ``admin_page`` / ``analyst_page``: a fresh browser context, already signed in;
- ``anonymous_page``: a fresh context, not signed in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from lakehose.testing import RunningServer, run_server
from tests.console.session import (
    ADMIN,
    ANALYST,
    CHROMIUM,
    PASSWORD,
    TIMEOUT_MS,
    create_user,
    sign_in,
)

expect.set_options(timeout=TIMEOUT_MS)  # every expect was a 5 s timed assertion


@pytest.fixture(scope="package")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for every console test (this package), with an admin and an analyst console user (one
    worker). Tests share it: each makes its own connectors, clients and users."""
    with run_server(tmp_path_factory.mktemp("console") / "data") as server:
        create_user(server.data_dir, ADMIN, "admin", PASSWORD)
        create_user(server.data_dir, ANALYST, "analyst", PASSWORD)
        yield server


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API runs an event loop in this thread while it lives: it must stop
    when the console tests end, or later tests' ``asyncio.run`` finds a loop running."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run make test (it installs chromium)"
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )
    yield browser
    browser.close()


@contextmanager
def _page(browser: Browser, server: RunningServer, user: str | None = None) -> Iterator[Page]:
    """A page in a fresh context; fails the test on a CSP violation or a request elsewhere."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    elsewhere: list[str] = []  # nothing is loaded from outside the server
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith((server.url + "/", "data:", "blob:", "about:"))
            else elsewhere.append(req.url)
        ),
    )
    try:
        if user is not None:
            sign_in(page, user, PASSWORD)
        yield page
    finally:
        context.close()
    assert not violations, f"the page broke its Content-Security-Policy: {violations}"
    assert not elsewhere, f"the page loaded from outside the server: {elsewhere}"


@pytest.fixture
def anonymous_page(browser: Browser, console_server: RunningServer) -> Iterator[Page]:
    with _page(browser, console_server) as page:
        yield page


@pytest.fixture
def admin_page(browser: Browser, console_server: RunningServer) -> Iterator[Page]:
    with _page(browser, console_server, ADMIN) as page:
        yield page


@pytest.fixture
def analyst_page(browser: Browser, console_server: RunningServer) -> Iterator[Page]:
    with _page(browser, console_server, ANALYST) as page:
        yield page
