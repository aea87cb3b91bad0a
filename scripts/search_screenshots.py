"""Take the README's search page screenshots: ``python scripts/search_screenshots.py``.

Starts a throwaway server with a day of demo events from three connectors, signs in
as an analyst in Debian's Chromium (through Playwright) and writes PNGs to
``docs/console/``: the search page, an expanded event, and an aggregate.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
from playwright.sync_api import sync_playwright

from lakehose.testing import run_server

OUT = Path(__file__).resolve().parent.parent / "docs" / "console"
PASSWORD = "demo password"


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    done = subprocess.run(
        [sys.executable, "-m", "lakehose", *args, "--data-dir", str(data_dir)],
        input=stdin, text=True, check=True, capture_output=True, env=env,
    )  # fmt: skip
    return done.stdout


def demo_events(url: str, data_dir: Path) -> None:
    """A day of web, auth and firewall events, busier in the working hours."""
    rnd = random.Random(3)
    now = time.time()
    for name in ("web", "auth", "firewall"):
        key = orjson.loads(cli(data_dir, "connector", "create", name, "--json"))["api_key"]
        events = []
        for _ in range(1500):
            t = now - rnd.random() ** 1.5 * 86400
            if name == "web":
                body = {"method": rnd.choice(["GET", "GET", "POST"]), "path": rnd.choice(
                    ["/", "/login", "/api/orders", "/static/app.js"]),
                    "status": rnd.choice([200] * 8 + [404, 500]), "bytes": rnd.randrange(90000)}  # fmt: skip
            elif name == "auth":
                body = {"user": {"name": rnd.choice(["alice", "bob", "carol", "svc-backup"])},
                        "outcome": rnd.choice(["success"] * 5 + ["failure"]),
                        "src_ip": f"10.0.{rnd.randrange(4)}.{rnd.randrange(250)}"}  # fmt: skip
            else:
                body = {"action": rnd.choice(["allow", "allow", "deny"]),
                        "dst_port": rnd.choice([22, 443, 3389, 53])}  # fmt: skip
            events.append(
                {"time": round(t, 3), "host": f"{name}-{rnd.randrange(1, 4)}", "event": body}
            )
        for at in range(0, len(events), 500):
            httpx.post(
                url, headers={"Authorization": f"Splunk {key}"},
                content=b"\n".join(orjson.dumps(e) for e in events[at : at + 500]),
            ).raise_for_status()  # fmt: skip


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "data") as server:
        demo_events(server.hec_url, server.data_dir)
        cli(server.data_dir, "user", "create", "bob", "--role", "analyst", "--password-stdin",
            stdin=PASSWORD + "\n")  # fmt: skip
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(base_url=server.url, viewport={"width": 1280, "height": 760})
            page.goto("/console/login?next=/console/search")
            page.fill("input[name=username]", "bob")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto("/console/search?" + urlencode({"q": "#connector=web status>=400"}))
            page.wait_for_selector("#histogram[data-ready]")
            page.wait_for_selector("#fields h2")
            page.screenshot(path=str(OUT / "search.png"))
            page.locator("#events summary").first.click()
            page.wait_for_selector(".event-detail")
            page.screenshot(path=str(OUT / "search-event.png"))
            page.goto("/console/search?" + urlencode({"q": "#connector=auth | groupBy(user.name)"}))
            page.wait_for_selector("#histogram[data-ready]")
            page.screenshot(path=str(OUT / "search-aggregate.png"))
            browser.close()
    print(f"wrote search*.png to {OUT}")


if __name__ == "__main__":
    main()
