"""Sink test fixtures: one lakehose for the whole package (each test sends its own run
marker, so they do not see each other's events), and the SDK tests' scripted HEC."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakehose.testing import RunningServer, run_server
from tests.client.conftest import ScriptedHEC, scripted

__all__ = ["ScriptedHEC", "scripted", "server"]


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("sink-lake") / "data") as s:
        yield s
