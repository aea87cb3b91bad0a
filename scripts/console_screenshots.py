"""Take the README's console screenshots: ``python scripts/console_screenshots.py``.

Starts a throwaway server with demo connectors, users and an API client, drives
Debian's Chromium through Playwright and writes small PNGs to ``docs/console/``
(run ``pngquant`` over them when it is installed, to keep them small).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from lakehose.testing import run_server

OUT = Path(__file__).resolve().parent.parent / "docs" / "console"
PASSWORD = "demo password"


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    subprocess.run(
        [sys.executable, "-m", "lakehose", *args, "--data-dir", str(data_dir)],
        input=stdin, text=True, check=True, capture_output=True, env=env,
    )  # fmt: skip


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"))


def add_connector(page: Page, name: str, description: str, parser: str) -> str:
    page.goto("/console/connectors")
    page.click("text=Add data connector")
    dialog = page.locator("dialog#add-connector")
    dialog.locator("input[name=name]").fill(name)
    dialog.locator("input[name=description]").fill(description)
    if parser:
        dialog.locator("select[name=parser]").select_option(parser)
    dialog.locator("button[type=submit]").click()
    return page.locator("#api-key").inner_text()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "data") as server:
        cli(server.data_dir, "user", "create", "alice", "--role", "admin", "--password-stdin",
            stdin=PASSWORD + "\n")  # fmt: skip
        cli(server.data_dir, "user", "create", "bob", "--role", "analyst", "--password-stdin",
            stdin=PASSWORD + "\n")  # fmt: skip
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(base_url=server.url, viewport={"width": 1200, "height": 720})
            page.goto("/console/login?next=/console/connectors")
            shot(page, "login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/connectors")
            add_connector(page, "proxy", "web proxies", "kv")
            edr = add_connector(page, "edr", "endpoint telemetry", "")
            key = add_connector(page, "firewall", "edge firewalls (syslog)", "syslog")
            page.evaluate("window.scrollTo(0, 0)")
            shot(page, "connector-key")
            with httpx.Client() as client:
                for n in range(30):
                    client.post(
                        server.hec_url + "/raw",
                        headers={"Authorization": f"Splunk {key}"},
                        content="\n".join(
                            f"<134>Dec  5 15:04:{i % 60:02d} fw1 deny src=10.0.0.{i % 9}"
                            for i in range(n * 10, n * 10 + 10)
                        ),
                    )
                    client.post(
                        server.hec_url,
                        headers={"Authorization": f"Splunk {edr}"},
                        json={"event": {"process": "powershell.exe", "pid": 4000 + n}},
                    )
                client.post(
                    server.hec_url,
                    headers={"Authorization": f"Splunk {edr}"},
                    content=b'{"event": "unterminated',
                )
                client.post(server.hec_url, headers={"Authorization": "Splunk nope"}, json={})
            page.goto("/console/connectors")
            shot(page, "connectors")
            page.goto("/console/clients")
            page.click("text=Create API client")
            dialog = page.locator("dialog#add-client")
            dialog.locator("input[name=name]").fill("siem-reader")
            dialog.locator("input[value='streams:read']").check()
            dialog.locator("button[type=submit]").click()
            shot(page, "clients")
            page.goto("/console/status")
            page.wait_for_timeout(1500)  # metrics are flushed once a second
            page.reload()
            shot(page, "status")
            page.goto("/console/users")
            shot(page, "users")
            page.goto("/console/audit")
            shot(page, "audit")
            browser.close()
    if shutil.which("pngquant"):
        for png in OUT.glob("*.png"):
            subprocess.run(
                ["pngquant", "--force", "--skip-if-larger", "--ext", ".png", "32", str(png)],
                check=False,
            )
    for png in sorted(OUT.glob("*.png")):
        print(f"{png.relative_to(OUT.parent.parent)}: {png.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
