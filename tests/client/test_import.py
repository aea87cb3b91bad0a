"""The SDK imports without the server's dependencies, and its optional ones load lazily."""

from __future__ import annotations

import subprocess
import sys

SERVER_ONLY = (
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "msgspec",
    "sqlite3",
    "prometheus_client",
    "lark",
    "lakehose.server",
    "lakehose.storage",
    "lakehose.cli",
)


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_lakehose_client_imports_without_server_modules() -> None:
    pulled_in = _python(
        "import sys\n"
        "from lakehose.client import HEC, AsyncHEC, EventStreams, StreamConsumer\n"
        "HEC('k', base_url='http://127.0.0.1:9').close()\n"
        "EventStreams(client_id='a', client_secret='b', base_url='http://127.0.0.1:9').close()\n"
        "StreamConsumer('http://127.0.0.1:9', client_id='a', client_secret='b', app_id='x').close()\n"
        f"names = {SERVER_ONLY!r}\n"
        "bad = [m for m in sys.modules if any(m == n or m.startswith(n + '.') for n in names)]\n"
        "print(','.join(sorted(bad)))\n"
    )
    assert pulled_in == "", f"lakehose.client pulled in: {pulled_in}"


def test_zstandard_rich_and_yaml_are_needed_only_when_used() -> None:
    """With them unimportable the SDK still sends (gzip, no progress bar, NDJSON input)."""
    out = _python(
        "import sys, io\n"
        "for name in ('zstandard', 'rich', 'yaml'):\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "from lakehose.client import HEC, read_events\n"
        "from lakehose.client.hec.batching import compress\n"
        "print(len(compress(b'x' * 100, 'gzip')) < 100)\n"
        "print(list(read_events(io.BytesIO(b'{\"a\": 1}'), 'json')))\n"
        "try:\n"
        "    compress(b'x', 'zstd')\n"
        "except ImportError:\n"
        "    print('zstd needs zstandard')\n"
    )
    assert out.splitlines() == ["True", "[{'a': 1}]", "zstd needs zstandard"]
