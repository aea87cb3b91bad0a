"""The dead-letter file is bounded: rotated at ``deadLetter.maxFileSizeInMB``, at most
``deadLetter.maxFiles`` files kept, the newest events always in the current one."""

from __future__ import annotations

from pathlib import Path

import orjson

from lakehose.collector.sink import sink_directory
from lakehose.collector.sink.deadletter import DeadLetters
from lakehose.testing import RunningServer
from tests.collector.running import RunningCollector, collector_yaml
from tests.helpers import wait_for

BIG = 3000
"""Bytes of each line: far over the sink's ``maxEventSize``, so every one is set aside."""


def numbers(path: Path) -> list[int]:
    out = []
    for line in path.read_bytes().splitlines():
        letter = orjson.loads(line)
        assert "maxEventSize" in letter["reason"]
        out.append(int(letter["event"]["event"].split()[0]))
    return out


def test_dead_letters_rotate_by_size_and_keep_max_files(
    server: RunningServer, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "big.log").write_text("".join(f"{i} {'x' * BIG}\n" for i in range(12)))
    sources = {"big": {"type": "file", "include": [str(logs / "*.log")], "sink": "lake"}}
    config = collector_yaml(
        tmp_path,
        server,
        sources,
        maxEventSize=1024,
        deadLetter={"maxFileSizeInMB": 0.01, "maxFiles": 3},  # 10,485 bytes: 3 letters a file
        queue={"flushTimeOutInMillisecond": 50},
    )
    with RunningCollector(config, tmp_path / "c", server.api_key) as c:
        c.start()
        wait_for(lambda: c.status()["sinks"]["lake"]["dead_lettered"] == 12, timeout=30)
        c.stop()
    folder = sink_directory(Path(config["dataDirectory"]), "lake")
    files = sorted(p.name for p in folder.iterdir() if p.name.startswith("deadletter"))
    assert files == ["deadletter.ndjson", "deadletter.ndjson.1", "deadletter.ndjson.2"]
    assert all((folder / f).stat().st_size <= 10_485 for f in files)
    kept = [n for f in reversed(files) for n in numbers(folder / f)]
    assert kept == list(range(3, 12))  # the oldest file (0..2) was deleted, in order
    assert "deleted the oldest" in c.logs()


def test_a_letter_larger_than_the_file_limit_goes_whole_into_a_fresh_file(
    tmp_path: Path,
) -> None:
    dead = DeadLetters(tmp_path / "deadletter.ndjson", "s", max_bytes=500, max_files=2)
    dead.add([b'{"event":"small"}\n'], "r")
    dead.add([b'{"event":"' + b"y" * 1000 + b'"}\n'], "r")
    dead.add([b'{"event":"after"}\n'], "r")
    current = [orjson.loads(x)["event"]["event"] for x in dead.path.read_bytes().splitlines()]
    older = dead.rotated(1).read_bytes().splitlines()
    assert current == ["after"] and len(older) == 1 and len(older[0]) > 1000
    assert not dead.rotated(2).exists() and dead.rotations == 2
