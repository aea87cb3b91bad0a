"""The Dockerfile and the systemd unit (issue 18, item 9), checked as far as this machine allows:
``systemd-analyze verify`` and its offline security score for the unit; for both, the server
started as they start it (their environment, an unprivileged user, a fresh data directory) in a
network namespace of its own (so port 8088 is free), and the Docker health check run as written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
UNIT = ROOT / "deploy" / "lakehose.service"
DOCKERFILE = ROOT / "Dockerfile"
LAKEHOSE = str(Path(sys.executable).parent / "lakehose")


def unit_settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def docker_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory an unprivileged user can use (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="lakehose-deploy-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def run_isolated(env: dict[str, str], data_dir: Path, health: list[str]) -> dict[str, int | str]:
    """Start ``lakehose serve`` as ``nobody`` in a new network namespace with ``env``; run the
    ``health`` command until it passes (or 30 tries); stop the server with SIGTERM."""
    data_dir.mkdir(mode=0o700)
    shutil.chown(data_dir, "nobody", "nogroup")
    script = f"""
ip link set lo up
setpriv --reuid=nobody --regid=nogroup --clear-groups {LAKEHOSE} serve >"$OUT" 2>&1 &
server=$!
health=1
for i in $(seq 60); do
  if "$@" >/dev/null 2>&1; then health=0; break; fi
  sleep 0.5
done
kill -TERM $server
wait $server
echo "{{\\"health\\": $health, \\"exit\\": $?}}"
"""
    out = data_dir.parent / "server.out"
    full_env = {"PATH": os.environ["PATH"], "HOME": str(data_dir), "OUT": str(out), **env}
    # One worker: more are spawned from sys.executable, which on a test machine may live where
    # `nobody` cannot reach (pyenv under /root); the image's and the unit's Python can be.
    full_env["LAKEHOSE_WORKERS"] = "1"
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, "sh", *health],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, int | str] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["output"] = out.read_text()
    return result


def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    # the unit names /opt/lakehose, where the README installs lakehose; here, the venv's
    unit = tmp_path / "lakehose.service"
    unit.write_text(UNIT.read_text().replace("/opt/lakehose/bin/lakehose", LAKEHOSE))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = re.search(
        r"Overall exposure level for lakehose.service: ([\d.]+) (\w+)", security.stdout
    )
    assert score is not None, security.stdout[-2000:]
    assert float(score.group(1)) <= 2.0 and score.group(2) == "OK", score.group(0)
    settings = unit_settings()
    assert settings["DynamicUser"] == ["yes"] and settings["ProtectSystem"] == ["strict"]
    assert settings["StateDirectory"] == ["lakehose"]
    assert "LAKEHOSE_DATA_DIR=/var/lib/lakehose" in settings["Environment"]
    assert settings["CapabilityBoundingSet"] == [""] and settings["NoNewPrivileges"] == ["yes"]


def test_the_service_serves_as_its_unit_starts_it(scratch: Path) -> None:
    env = dict(value.split("=", 1) for value in unit_settings()["Environment"])
    env["LAKEHOSE_DATA_DIR"] = str(scratch / "state")  # StateDirectory, made for the user
    health = [
        sys.executable,
        "-c",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8088/services/collector/health')",
    ]
    result = run_isolated(env, scratch / "state", health)
    assert result["health"] == 0, result["output"]
    assert result["exit"] == 0, result["output"]
    assert "Listening on http://127.0.0.1:8088" in str(result["output"])


def test_the_dockerfile_runs_unprivileged_with_a_volume_and_a_working_health_check(
    scratch: Path,
) -> None:
    steps = docker_instructions()
    env: dict[str, str] = {}
    for word, rest in steps:
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in rest.split())
    user = [rest for word, rest in steps if word == "USER"]
    assert user == ["lakehose"]  # not root
    volumes = [json.loads(rest) for word, rest in steps if word == "VOLUME"]
    assert volumes == [[env["LAKEHOSE_DATA_DIR"]]]  # the lake is the volume
    (healthcheck,) = [rest for word, rest in steps if word == "HEALTHCHECK"]
    command = json.loads(healthcheck.partition(" CMD ")[2])
    assert "/services/collector/health" in command[-1]
    (cmd,) = [json.loads(rest) for word, rest in steps if word == "CMD"]
    assert cmd == ["lakehose", "serve"] and env["LAKEHOSE_HOST"] == "0.0.0.0"
    assert [rest for word, rest in steps if word == "EXPOSE"] == [env["LAKEHOSE_PORT"]]
    # the image's environment, its data volume (a fresh directory here) and its health check,
    # with the image's `python` being this one
    env.pop("PATH", None)
    env["LAKEHOSE_DATA_DIR"] = str(scratch / "volume")
    result = run_isolated(env, scratch / "volume", [sys.executable, *command[1:]])
    assert result["health"] == 0, result["output"]
    assert result["exit"] == 0, result["output"]
    output = str(result["output"])
    assert "Created connector" in output and '"logger"' in output  # JSON logs, as set
