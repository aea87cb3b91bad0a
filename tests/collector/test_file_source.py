"""The file source on real files: lines, partial lines, checkpoints after receipts, rotation, gzip."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from lakehose.collector.config import parse_config
from lakehose.collector.sources.base import Outlet
from lakehose.collector.sources.file import FileSource
from lakehose.collector.sources.globs import FileMatcher, Glob
from tests.collector.recording import RecordingDelivery, until


def source_config(**options: Any) -> Any:
    data = {
        "dataDirectory": "/unused",
        "sources": {"app": {"type": "file", "sink": "k", **options}},
        "sinks": {"k": {"url": "http://127.0.0.1:9", "token": "t"}},
    }
    return parse_config(data, {}).sources["app"]


Body = Callable[[FileSource, RecordingDelivery], Awaitable[None]]


def run_source(state: Path, delivery: RecordingDelivery, body: Body, **options: Any) -> FileSource:
    """Run a file source while ``body`` acts, then stop it the way the collector does."""

    async def main() -> FileSource:
        source = FileSource(
            Outlet(source_config(**options), delivery, "testhost"), state, scan_cooldown=0.1
        )
        task = asyncio.ensure_future(source.run())
        try:
            await body(source, delivery)
        finally:
            source.stop()
            await task
            await delivery.aclose()
            await source.aclose()
        return source

    return asyncio.run(main())


def checkpoint(state: Path) -> dict[str, Any]:
    return orjson.loads((state / "checkpoints" / "app.json").read_bytes())  # type: ignore[no-any-return]


def test_lines_are_read_and_a_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("one\ntwo\r\nthr")

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 2)
        with log.open("a") as f:
            f.write("ee\nfour\n")
        await until(lambda: len(d.events) == 4)

    d = RecordingDelivery()
    run_source(tmp_path / "state", d, body, include=[str(tmp_path / "*.log")])
    assert d.texts == ["one", "two", "three", "four"]
    e = d.events[0]
    assert e.source == str(log) and e.host == "testhost"
    assert e.fields["@collect.file"] == str(log)
    assert e.fields["@collect.source_name"] == "app"
    (entry,) = checkpoint(tmp_path / "state").values()
    assert entry["offset"] == log.stat().st_size


def test_checkpoint_moves_only_when_receipts_resolve(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "partial")
    state = tmp_path / "state"

    async def held(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 100)
        await asyncio.sleep(0.7)  # longer than the checkpoint interval
        source.store.flush()

    d = RecordingDelivery(hold=True)
    run_source(state, d, held, include=[str(log)])
    (entry,) = checkpoint(state).values()
    assert entry["offset"] == 0  # nothing confirmed: nothing marked read

    async def resolved(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 100)

    d2 = RecordingDelivery()
    run_source(state, d2, resolved, include=[str(log)])
    assert d2.texts == [f"line {i}" for i in range(100)]  # all again, none lost
    (entry,) = checkpoint(state).values()
    assert entry["offset"] == log.stat().st_size - len("partial")  # the partial line is carried

    with log.open("a") as f:
        f.write(" now whole\n")

    async def rest(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 1)

    d3 = RecordingDelivery()
    run_source(state, d3, rest, include=[str(log)])
    assert d3.texts == ["partial now whole"]


def test_rename_rotation_reads_the_old_file_to_its_end_then_the_new(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("a1\na2\n")

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 2)
        with log.open("a") as f:
            f.write("a3\n")  # written, then rotated before the source looked again
            os.rename(log, tmp_path / "app.log.1")
            f.write("a4\n")  # a writer still holding the old file
        log.write_text("b1\n")
        await until(lambda: len(d.events) == 5)

    d = RecordingDelivery()
    run_source(tmp_path / "state", d, body, include=[str(tmp_path / "*.log")])
    assert sorted(d.texts) == ["a1", "a2", "a3", "a4", "b1"]


def test_copytruncate_reads_the_unread_tail_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("x" * 2000 + "\n" + "".join(f"old {i}\n" for i in range(5)))

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 6)
        with log.open("a") as f:
            f.write("old 5\nold 6\n")
        # logrotate's copytruncate: copy, then truncate in place (source may not have looked)
        (tmp_path / "app.log.1").write_bytes(log.read_bytes())
        os.truncate(log, 0)
        with log.open("a") as f:
            f.write("new 0\n")
        await until(lambda: "new 0" in d.texts)

    d = RecordingDelivery()
    run_source(tmp_path / "state", d, body, include=[str(log)])
    assert d.texts[1:] == [f"old {i}" for i in range(7)] + ["new 0"]


def test_a_reused_inode_with_other_content_is_a_new_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("first file line\n")
    state = tmp_path / "state"

    async def first(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 1)

    run_source(state, RecordingDelivery(), first, include=[str(log)])
    # Same path, same size, new content; the inode may well be reused (tmpfs, ext4 do).
    log.unlink()
    log.write_text("other file line\n")

    async def second(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 1)

    d = RecordingDelivery()
    run_source(state, d, second, include=[str(log)])
    assert d.texts == ["other file line"]


def test_gzip_files_are_read_whole_once(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "old.log.gz", "wt") as f:
        f.write("".join(f"z{i}\n" for i in range(1000)) + "last without newline")
    state = tmp_path / "state"

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 1001)

    d = RecordingDelivery()
    run_source(state, d, body, include=[str(tmp_path / "*.gz")])
    assert d.texts[-1] == "last without newline" and d.texts[0] == "z0"

    async def again(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: source.scans >= 2)

    d2 = RecordingDelivery()
    run_source(state, d2, again, include=[str(tmp_path / "*.gz")])
    assert d2.events == []


def test_multiline_events_start_at_the_pattern(tmp_path: Path) -> None:
    log = tmp_path / "java.log"
    log.write_text(
        "2024-01-01 ERROR boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)\n2024-01-01 INFO ok\n"
    )

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: len(d.events) == 2)  # the last one after the multi-line flush

    d = RecordingDelivery()
    run_source(
        tmp_path / "state", d, body, include=[str(log)], multiLineBeginsWith=r"\d{4}-\d\d-\d\d "
    )
    assert d.texts == [
        "2024-01-01 ERROR boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)",
        "2024-01-01 INFO ok",
    ]


def test_start_at_end_skips_existing_content_of_new_files(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("before\n")

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: source.scans >= 1 and source.files)
        with log.open("a") as f:
            f.write("after\n")
        await until(lambda: len(d.events) == 1)

    d = RecordingDelivery()
    run_source(tmp_path / "state", d, body, include=[str(log)], startAt="end")
    assert d.texts == ["after"]


def test_transforms_filter_and_add_fields(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("keep 1\ndebug drop\nkeep 2\nother\n")

    async def body(source: FileSource, d: RecordingDelivery) -> None:
        await until(lambda: source.outlet.stats.filtered == 2)

    d = RecordingDelivery()
    source = run_source(
        tmp_path / "state",
        d,
        body,
        include=[str(log)],
        transforms=[
            {"type": "regex_filter", "mode": "include", "pattern": "keep|debug"},
            {"type": "regex_filter", "mode": "exclude", "pattern": "^debug"},
            {"type": "static_fields", "fields": {"env": "prod", "team": "soc"}},
        ],
    )
    assert d.texts == ["keep 1", "keep 2"]
    assert d.events[0].fields["env"] == "prod" and d.events[0].fields["team"] == "soc"
    assert source.outlet.stats.events == 2


def test_globs_walk_from_the_literal_prefix_with_double_star(tmp_path: Path) -> None:
    for rel in [
        "a/x.log",
        "a/b/c/y.log",
        "a/b/z.txt",
        "a/b/skip.log",
        "a/b/old.log.gz",
        "other/w.log",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x\n")
    g = Glob.parse(f"{tmp_path}/a/**/*.log")
    assert g.root == f"{tmp_path}/a" and g.depth is None
    m = FileMatcher([f"{tmp_path}/a/**/*.log*"], [f"{tmp_path}/**/skip.*"], ["gz"])
    assert m.scan() == [f"{tmp_path}/a/b/c/y.log", f"{tmp_path}/a/x.log"]
    assert Glob.parse(f"{tmp_path}/a/*/z.txt").depth == 2
    m2 = FileMatcher([f"{tmp_path}/a/*.log"], [], [])
    assert m2.scan() == [f"{tmp_path}/a/x.log"]
    assert m2.dirs_walked == 1  # never descends below a pattern without **
