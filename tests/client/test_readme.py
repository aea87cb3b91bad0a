"""The README's SDK examples work as printed: each ``python`` block runs against a real
lakehose (with an API client's credentials in ``LAKEHOSE_CLIENT_ID``/``_SECRET``, in a
directory of its own) and prints what its ``# comments`` say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lakehose.testing import RunningServer
from tests.client.consumerkit import api_client

README = Path(__file__).parents[2] / "README.md"
EXAMPLE_KEY = 'KEY = "6f1c0a52-2f8e-4d5b-9a51-0d7d3c9f1e2a"'
EXAMPLE_URL = "http://127.0.0.1:8088"


def _sdk_examples() -> list[str]:
    text = README.read_text()
    section = text.split("## SDK: sending and streaming from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def env(server: RunningServer) -> dict[str, str]:
    client_id, secret = api_client(server)
    base = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    return {**base, "LAKEHOSE_CLIENT_ID": client_id, "LAKEHOSE_CLIENT_SECRET": secret}


def test_the_readme_has_sdk_examples() -> None:
    examples = _sdk_examples()
    assert len(examples) >= 7
    assert EXAMPLE_KEY in examples[0]
    for name in ("EventStreams", "StreamConsumer", "AsyncStreamConsumer"):
        assert any(f"import {name}" in code or f", {name}" in code for code in examples), name


@pytest.mark.parametrize("number", range(len(_sdk_examples())))
def test_readme_sdk_example_prints_what_it_says(
    server: RunningServer, env: dict[str, str], tmp_path: Path, number: int
) -> None:
    code = _sdk_examples()[number]
    assert server.api_key
    if EXAMPLE_KEY not in code:
        code = f"{EXAMPLE_KEY}\n{code}"
    code = code.replace(EXAMPLE_KEY, f'KEY = "{server.api_key}"').replace(EXAMPLE_URL, server.url)
    expected = [
        line.split("  # ", 1)[1]
        for line in code.splitlines()
        if line.lstrip().startswith("print(") and "  # " in line
    ]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    printed = [line for line in out.stdout.splitlines() if "━" not in line]  # not rich's bar
    assert printed == expected
