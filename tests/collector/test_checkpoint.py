"""The checkpoint store: what is set is what a restart reads, written only when it changed."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import orjson
import pytest

from lakehose.collector.checkpoint import CheckpointStore


def on_disk(tmp_path: Path, source: str = "files") -> object:
    return orjson.loads((tmp_path / "checkpoints" / f"{source}.json").read_bytes())


def test_a_new_store_is_empty_and_writes_nothing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "files")
    assert store.entries == {} and store.get("a") is None and store.writes == 0
    store.flush()
    assert store.writes == 0 and not (tmp_path / "checkpoints").exists()


def test_what_is_set_is_what_a_restart_reads(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "files")
    store.set("inode:1", {"offset": 10})
    store.set("cursor", "s=abc")
    assert store.get("inode:1") == {"offset": 10}
    assert not store.path.exists()  # set only marks the document; flush writes it
    store.flush()
    assert store.writes == 1
    assert store.path == tmp_path / "checkpoints" / "files.json"
    assert on_disk(tmp_path) == {"inode:1": {"offset": 10}, "cursor": "s=abc"}
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["files.json"]  # no .tmp
    again = CheckpointStore(tmp_path, "files")
    assert again.entries == {"inode:1": {"offset": 10}, "cursor": "s=abc"}
    assert CheckpointStore(tmp_path, "other").entries == {}  # one document per source


def test_an_unchanged_document_is_not_written_again(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "files")
    store.set("a", 1)
    store.flush()
    store.flush()
    assert store.writes == 1
    store.set("a", 2)
    store.flush()
    assert store.writes == 2 and on_disk(tmp_path) == {"a": 2}


def test_delete_writes_only_when_something_went(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "files")
    store.set("a", 1)
    store.set("b", 2)
    store.flush()
    store.delete("missing")
    store.flush()
    assert store.writes == 1
    store.delete("a")
    assert store.get("a") is None
    store.flush()
    assert store.writes == 2 and on_disk(tmp_path) == {"b": 2}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_an_unreadable_or_foreign_document_starts_over(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "files.json").write_bytes(content)
    with caplog.at_level(logging.ERROR):
        store = CheckpointStore(tmp_path, "files")
    assert store.entries == {}
    assert ("unreadable" in caplog.text) is content.startswith((b"{", b"\xff"))
    store.set("a", 1)
    store.flush()
    assert on_disk(tmp_path) == {"a": 1}


def test_flush_soon_logs_a_failed_write_and_keeps_the_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        (tmp_path / "checkpoints").write_bytes(b"")  # a file where the folder should be
        store = CheckpointStore(tmp_path, "files")
        store.set("a", 1)
        store.flush_soon()
        await _until(lambda: "cannot write checkpoint" in caplog.text, "a logged failure")
        assert store.writes == 0
        with pytest.raises(OSError):
            store.flush()  # the change is still pending
        (tmp_path / "checkpoints").unlink()
        store.flush_soon()
        await _until(lambda: store.writes == 1, "the retried write")
        assert on_disk(tmp_path) == {"a": 1}
        store.set("a", 2)
        store.flush_soon()
        store.set("a", 3)
        store.flush_soon()  # during the write: folded into one more after it
        await _until(lambda: (tmp_path / "checkpoints" / "files.json").read_bytes() == b'{"a":3}',
                     "the folded write")  # fmt: skip
        await store.aclose()
        assert on_disk(tmp_path) == {"a": 3} and store.writes <= 3

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())


async def _until(condition: object, what: str) -> None:
    for _ in range(1000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_the_background_task_writes_changes_and_survives_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        store = CheckpointStore(tmp_path, "files", interval=0.01)
        store.start()
        store.set("a", 1)
        await _until(lambda: store.writes == 1, "the first periodic write")
        blocker = tmp_path / "checkpoints"
        for child in blocker.iterdir():
            child.unlink()
        blocker.rmdir()
        blocker.write_bytes(b"")
        store.set("a", 2)
        await _until(lambda: "cannot write checkpoint" in caplog.text, "a logged failure")
        blocker.unlink()
        await _until(lambda: store.writes == 2, "a write after the failure")
        assert on_disk(tmp_path) == {"a": 2}
        store.set("a", 3)
        await store.aclose()  # closing writes what the next interval would have
        assert on_disk(tmp_path) == {"a": 3}
        assert store._task is not None and store._task.cancelled()

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())


def test_close_without_start_still_writes(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "journald")
    store.set("cursor", "s=1")
    asyncio.run(store.aclose())
    assert on_disk(tmp_path, "journald") == {"cursor": "s=1"}


def test_the_first_write_creates_the_data_directory_too(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "new" / "data", "files")
    store.set("a", 1)
    store.flush()
    assert on_disk(tmp_path / "new" / "data") == {"a": 1}


def test_writes_leave_no_descriptor_open(tmp_path: Path) -> None:
    """The collector writes a checkpoint every interval for days: a leak would exhaust fds."""
    store = CheckpointStore(tmp_path, "files")
    store.set("a", 0)
    store.flush()
    before = len(os.listdir("/proc/self/fd"))
    for n in range(20):
        store.set("a", n + 1)
        store.flush()
    assert len(os.listdir("/proc/self/fd")) == before and store.writes == 21


def test_writes_behind_the_loop_one_at_a_time_and_only_when_asked(tmp_path: Path) -> None:
    async def main() -> None:
        store = CheckpointStore(tmp_path, "files")
        store.flush_soon()  # nothing changed: nothing written
        assert store._writing is not None
        await store._writing
        assert store.writes == 0 and not store.path.exists()
        store.set("a", 1)
        store.flush_soon()
        await asyncio.sleep(0)  # the write is now on its worker thread
        first = store._writing
        store.set("a", 2)
        store.flush_soon()  # during the write: no second writer, one more write after it
        assert store._writing is first
        await first
        assert store.writes == 2 and on_disk(tmp_path) == {"a": 2}
        store.flush()  # written: nothing left to write
        assert store.writes == 2
        store.set("a", 3)
        store.flush_soon()
        await asyncio.sleep(0)
        store.set("a", 4)  # changed during the write but not asked for: waits for the next ask
        await store._writing
        assert store.writes == 3 and on_disk(tmp_path) == {"a": 3}
        store.set("a", 5)
        store.flush_soon()
        await asyncio.sleep(0)
        await store.aclose()  # waits for the write under way
        assert store.writes == 4 and on_disk(tmp_path) == {"a": 5}

    asyncio.run(main())


def test_a_failed_write_behind_is_not_retried_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        (tmp_path / "checkpoints").write_bytes(b"")  # a file where the folder should be
        store = CheckpointStore(tmp_path, "files")
        store.set("a", 1)
        store.flush_soon()
        await asyncio.sleep(0)
        store.flush_soon()  # asked again during the failing write
        assert store._writing is not None
        await store._writing
        failures = caplog.text.count("cannot write checkpoint")
        assert failures == 1 and store.writes == 0  # retried at the next interval, not now

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
