"""Helpers for the cluster tests: lakehose nodes on a NATS cluster, and the CLI pointed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from lakehose.testing import RunningServer, run_server


@dataclass(frozen=True)
class Lake:
    """A lake on a cluster: the URLs its nodes and commands are given, and its namespace."""

    urls: str
    namespace: str

    def env(self) -> dict[str, str]:
        return {"LAKEHOSE_CLUSTER_NAMESPACE": self.namespace}


def namespace_for(path: Path) -> str:
    """A lake name of its own per test directory (tests share the session's NATS cluster)."""
    return "c" + format(zlib.crc32(str(path).encode()), "x")


@contextmanager
def nodes(
    lake: Lake,
    root: Path,
    count: int = 2,
    urls: list[str] | None = None,
    args: list[str] = (),  # type: ignore[assignment]
    parallel: bool = False,
) -> Iterator[list[RunningServer]]:
    """``count`` running ``lakehose serve --cluster`` nodes (1 worker each); node ``i`` is given
    ``urls[i]`` when set, else every URL. ``parallel`` starts them at once (then any one of
    them may bootstrap the lake's first key: :func:`first_key`)."""
    root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:

        def start(i: int) -> RunningServer:
            where = urls[i] if urls else lake.urls
            return stack.enter_context(
                run_server(
                    root / f"node{i}", args=["--cluster", where, *args], env=lake.env(),
                    timeout=60,
                )
            )  # fmt: skip

        if parallel:
            with ThreadPoolExecutor(count) as pool:
                futures = [pool.submit(start, i) for i in range(count)]
            yield [f.result() for f in futures]
        else:
            yield [start(i) for i in range(count)]


def first_key(running: list[RunningServer]) -> str:
    """The key of connector ``default``, printed by the one node that bootstrapped the lake."""
    keys = [n.api_key for n in running if n.api_key is not None]
    assert len(keys) == 1, f"{len(keys)} nodes bootstrapped a key"
    return keys[0]


def lh(lake: Lake, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``lakehose ARGS --cluster URLS`` as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    env.update(lake.env())
    proc = subprocess.run(
        [sys.executable, "-m", "lakehose", *args, "--cluster", lake.urls],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lakehose {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def lh_json(lake: Lake, *args: str) -> Any:
    return orjson.loads(lh(lake, *args, "--json").stdout)


# A cluster on a loaded 2-core machine can take seconds to answer (three NATS servers,
# the nodes and other test workers share the cores): the tests bound waits generously.
http = httpx.Client(timeout=60.0)


def token(node: RunningServer, client: dict[str, Any]) -> str:
    reply = http.post(
        node.url + "/oauth2/token",
        data={"client_id": client["client_id"], "client_secret": client["client_secret"]},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["access_token"])


def send(node: RunningServer, key: str, events: list[Any], **headers: str) -> httpx.Response:
    body = b"".join(orjson.dumps({"event": e}) for e in events)
    return httpx.post(
        node.hec_url, content=body, headers={"Authorization": f"Splunk {key}", **headers},
        timeout=60,
    )  # fmt: skip
