"""The HTTP API fuzzed from its own OpenAPI document (schemathesis), against a real server.

Every operation of ``/api/v1/openapi.json`` but the long-lived streams gets generated
requests, valid and invalid, with a valid credential for its auth scheme; each answer
must be below 500, have a documented status, content type, headers and body, and invalid
data must be refused with a 4xx. The server must log no error and stay healthy.

``fast`` runs in the quick suite: a fixed seed in schemathesis's deterministic mode, a few
examples an operation, each handler under one of its paths (HEC's aliases and the search API
under ``/console`` are left to the long run), so every run sends the same requests and
cannot flake. ``slow``
(``make api-fuzz``) sends ``LAKEHOSE_API_FUZZ_EXAMPLES`` (default 200) an operation with a
fresh seed, prints its figures and keeps its output, report and the server's log in
``test-artifacts/api-fuzz/``. A finding is pinned as a plain regression test in its
area's test file (see the CHANGELOG for the ones found so far).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from lakehose.testing import run_server
from tests.fuzz import openapikit

SLOW_EXAMPLES = int(os.environ.get("LAKEHOSE_API_FUZZ_EXAMPLES") or 200)
FAST_EXAMPLES = 4
SEED = 20261206
# the long run's output, its NDJSON report (every request and answer) and the server's log
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "api-fuzz"


@pytest.mark.parametrize(
    "variant",
    [
        # a loaded CI machine can stretch the quick run's ~40 s a few times over
        pytest.param("fast", id="fast", marks=pytest.mark.timeout(400)),
        pytest.param("slow", id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(7200)]),
    ],
)
def test_every_operation_answers_as_its_document_says(
    variant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_server(tmp_path / "data") as server:
        creds = openapikit.credentials(server)
        fast = variant == "fast"
        outcome = openapikit.run(
            server,
            creds,
            tmp_path / "schemathesis" if fast else ARTIFACTS,
            max_examples=FAST_EXAMPLES if fast else SLOW_EXAMPLES,
            seed=SEED if fast else None,
            aliases=not fast,
            timeout=360 if fast else 7000,
        )
        if not fast:
            (ARTIFACTS / "output.txt").write_text(outcome.output)
            (ARTIFACTS / "server.log").write_text(server.logs())
        with capsys.disabled():
            print(f"\n{variant}: {outcome.summary()}")
            if not fast:
                print(f"output, report and server log: {ARTIFACTS}")
        assert outcome.operations > (60 if fast else 80), outcome.output[-3000:]
        assert outcome.returncode == 0 and not outcome.failures, (
            "\n".join(outcome.failures) + "\n" + outcome.output[-6000:]
        )
        assert httpx.get(server.hec_url + "/health").status_code == 200
        errors = [line for line in server.logs().splitlines() if '"level":"error"' in line]
        assert not errors, errors[:5]
