"""Fixtures: real servers on loopback ports, with data directories under tmp_path."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings

from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import RunningServer, run_server

# Hypothesis's deadline (200 ms an example) and its too-slow health check are timed assertions:
# on a loaded machine, with the suite in parallel, a plain example can take longer. What an
# example computes is what is tested; speed belongs in bench/.
settings.register_profile("lakehose", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lakehose")

# httpx's default timeout, 5 s, made every request a test sends with plain ``httpx.get``/``post``
# (or a ``Client`` without a timeout) a timed assertion: on a loaded 2-core machine a discovery,
# a first search or a commit behind others took longer. In the test process it is 60 s, a hang
# guard. lakehose's own clients (the SDK, the collector's sink) always pass theirs: unchanged.
_HTTPX_DEFAULT = inspect.signature(httpx.post).parameters["timeout"].default
assert isinstance(_HTTPX_DEFAULT, httpx.Timeout)
_HTTPX_DEFAULT.connect = _HTTPX_DEFAULT.read = _HTTPX_DEFAULT.write = _HTTPX_DEFAULT.pool = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server per test module (1 worker); tests create their own connectors."""
    with run_server(tmp_path_factory.mktemp("lake") / "data") as s:
        yield s


@pytest.fixture(scope="module")
def hec(server: RunningServer) -> Iterator[httpx.Client]:
    """An HTTP client authorised with the server's bootstrap key."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Splunk {server.api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    """An httpx client with an admin bearer token for the module's server."""
    from tests.helpers import bearer_token

    token = bearer_token(server, "admin")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A real 3-node NATS cluster with JetStream on loopback, shared by the session.

    Tests keep apart by namespace (``tests/storage/backendkit.py`` derives one from each
    test's directory). ``LAKEHOSE_TEST_NATS`` tells subprocesses where it is.
    """
    with DevCluster(tmp_path_factory.mktemp("nats"), nodes=3) as cluster:
        os.environ["LAKEHOSE_TEST_NATS"] = cluster.urls
        yield cluster
        os.environ.pop("LAKEHOSE_TEST_NATS", None)
