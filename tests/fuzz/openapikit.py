"""Fuzz the HTTP API from its own OpenAPI document with schemathesis, against a real server.

:func:`credentials` makes a valid credential for each auth scheme the document declares,
the way a user gets one: a HEC connector key (as ``Splunk``, ``Bearer``, Basic password and
``?token=``), an API client with every scope (its OAuth2 bearer fetched by schemathesis
from ``/oauth2/token``, and its id and secret as Basic for ``/oauth2/revoke``), a stream
session token from discovery, and a signed-in console user's session cookie. So the
fuzzer gets past auth and reaches the handlers. :func:`run` writes them into a
``schemathesis.toml`` and runs ``st run`` on the served document, and returns what it found.

Left out: the long-lived responses, which stay open until the client leaves (the Falcon
data feed, the only user of the session token, and the search tail, also under
``/console``); their own tests cover them. The sandbox is not started here: its routes
answer 404 (``not started with --sandbox``), which the fuzzer checks too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lakehose.testing import RunningServer
from tests.helpers import cli, cli_json

# Streams that stay open until the client leaves: bounded by their own tests, not by a fuzzer
STREAMING = [
    "/sensors/entities/datafeed/v1/{partition}",
    "/api/v1/search/tail",
    "/console/api/v1/search/tail",
]
# The same handler under another path (HEC's aliases, the search API under /console): the quick
# variant fuzzes one path of each, the long one every path
ALIASES = [
    "/services/collector/event",
    "/services/collector/event/1.0",
    "/api/v1/ingest/hec",
    "/services/collector/raw/1.0",
    "/api/v1/ingest/hec/raw",
    "/services/collector/ack/1.0",
    "/services/collector/health/1.0",
    "/console/api/v1/search/histogram",
    "/console/api/v1/search/fields",
    "/console/api/v1/search/events/{partition}/{offset}",
    "/console/api/v1/search/export",
]
APP_ID = "apifuzz"
CONSOLE_USER, CONSOLE_PASSWORD = "fuzz-admin", "correct horse battery staple"
_LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]


@dataclass
class Credentials:
    hec_key: str
    client_id: str
    client_secret: str
    session_token: str
    console_cookie: tuple[str, str]


@dataclass
class Outcome:
    """What one ``st run`` did: its exit status, output and the figures of its report."""

    returncode: int
    output: str
    operations: int
    cases: int
    failures: list[str]

    def summary(self) -> str:
        return (
            f"schemathesis: {self.operations} operations, {self.cases} cases, "
            f"{len(self.failures)} findings"
        )


def credentials(server: RunningServer) -> Credentials:
    """A valid credential for every auth scheme of the document, made as a user makes them."""
    created = cli_json("connector", "create", "fuzz-hec", "--allow-query-token",
                       data_dir=server.data_dir)  # fmt: skip
    scopes = ["admin", "search:read", "streams:read", "connectors:write", "clients:write",
              "metrics:read"]  # fmt: skip
    args = ["client", "create", "fuzz-client-do-not-revoke"]
    for scope in scopes:
        args += ["--scope", scope]
    client = cli_json(*args, data_dir=server.data_dir)
    cid, secret = client["client_id"], client["client_secret"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post("/oauth2/token", data={"client_id": cid, "client_secret": secret})
        assert token.status_code == 201, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        streams = http.get("/sensors/entities/datafeed/v2", params={"appId": APP_ID},
                           headers=bearer)  # fmt: skip
        assert streams.status_code == 200, streams.text
        session = streams.json()["resources"][0]["sessionToken"]["token"]
    cli("user", "create", CONSOLE_USER, "--role", "admin", "--password-stdin",
        data_dir=server.data_dir, input=CONSOLE_PASSWORD + "\n")  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        form = _LOGIN_TOKEN.search(browser.get("/console/login").text)
        assert form, "no csrf_token in the sign-in form"
        signed = browser.post(
            "/console/login",
            data={"username": CONSOLE_USER, "password": CONSOLE_PASSWORD,
                  "csrf_token": form.group(1), "next": "/console/status"},
        )  # fmt: skip
        assert signed.status_code == 303, signed.text
        name, value = next(iter(browser.cookies.items()))
    return Credentials(created["api_key"], cid, secret, session, (name, value))


def config_toml(creds: Credentials) -> str:
    """``schemathesis.toml``: each security scheme of the document with its credential."""
    schemes: dict[str, dict[str, str]] = {
        "splunkKey": {"api_key": f"Splunk {creds.hec_key}"},
        "bearerKey": {"bearer": creds.hec_key},
        "basicKey": {"username": "x", "password": creds.hec_key},
        "queryToken": {"api_key": creds.hec_key},
        "clientBasic": {"username": creds.client_id, "password": creds.client_secret},
        "sessionToken": {"api_key": f"Token {creds.session_token}"},
        "consoleSession": {"api_key": creds.console_cookie[1]},
    }
    lines = []
    for name, fields in schemes.items():
        lines.append(f"[auth.openapi.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    # the OAuth2 bearer: client credentials at /oauth2/token, as FalconPy gets one
    lines += [
        "[auth.dynamic.openapi.bearerToken]",
        'path = "/oauth2/token"',
        'method = "post"',
        'payload_content_type = "application/x-www-form-urlencoded"',
        'extract_selector = "/access_token"',
        f"payload = {{ client_id = {json.dumps(creds.client_id)}, "
        f"client_secret = {json.dumps(creds.client_secret)} }}",
    ]
    return "\n".join(lines) + "\n"


def run(
    server: RunningServer,
    creds: Credentials,
    workdir: Path,
    *,
    max_examples: int,
    seed: int | None,
    aliases: bool = True,
    extra: list[str] | None = None,
    timeout: float = 600,
) -> Outcome:
    """``st run`` on the server's own document; every failure is a finding. Without
    ``aliases``, each handler is fuzzed under one of its paths only."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(config_toml(creds))
    report = workdir / "report.ndjson"
    argv = [
        str(Path(sys.executable).with_name("st")),
        "--config-file", str(config), "--no-color",
        "run", server.url + "/api/v1/openapi.json",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(max_examples),
        "--request-timeout", "10",
        "--workers", "1",
        "--report", "ndjson", "--report-ndjson-path", str(report),
        "--max-redirects", "0",
        *[arg for path in STREAMING + ([] if aliases else ALIASES)
          for arg in ("--exclude-path", path)],
        *(["--seed", str(seed), "--generation-deterministic"] if seed is not None
          else ["--generation-database", "none"]),
        *(extra or []),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    return _outcome(proc, report)


def _outcome(proc: subprocess.CompletedProcess[str], report: Path) -> Outcome:
    operations: set[str] = set()
    cases, failures = 0, set()
    if report.exists():
        for line in report.read_text().splitlines():
            finished: dict[str, Any] | None = json.loads(line).get("ScenarioFinished")
            if finished is None or finished.get("status") == "skip":
                continue
            recorder = finished.get("recorder", {})
            if finished.get("phase") != "stateful":  # its scenarios span operations
                operations.add(recorder.get("label", ""))
            cases += len(recorder.get("cases", {}))
            for checks in recorder.get("checks", {}).values():
                for check in checks:
                    if check.get("status") == "failure":
                        failures.add(_describe(check))
    return Outcome(
        proc.returncode, proc.stdout + proc.stderr, len(operations), cases, sorted(failures)
    )


def _describe(check: dict[str, Any]) -> str:
    """One line a finding: operation, check code and what it says (one line a case)."""
    failure = (check.get("failure_info") or {}).get("failure") or {}
    message = " / ".join(str(failure.get("message", "")).splitlines()[:3])
    return f"{failure.get('operation')}: {failure.get('code')} {failure.get('title')}: {message}"
