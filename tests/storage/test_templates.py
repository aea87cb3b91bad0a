"""The compactor's template path (``storage/columnar/templates.py``) writes exactly the file
the general path writes, or leaves the file to it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehose.parsers.hec import decode_events
from lakehose.query.timerange import TimeRange
from lakehose.storage.base import PendingAppend
from lakehose.storage.columnar import splitter
from lakehose.storage.columnar.compactor import Compactor, RoundResult, manifest_path, tier_dir
from lakehose.storage.columnar.layout import column_name
from lakehose.storage.columnar.manifest import REBUILT, Manifest
from lakehose.storage.columnar.templates import HOLE
from lakehose.storage.sqlite.partition import PartitionWriter, create_partition
from tests.helpers import lake_context
from tests.search.tierkit import both

T0 = 1_700_000_000


def write_lake(path: Path, bodies: list[bytes]) -> None:
    """One partition, a batch per HEC body (newline-separated envelopes, spelled as given)."""
    path.mkdir()
    create_partition(path, 0)
    writer = PartitionWriter(path, 0, durability="none", zstd_level=1)
    for n, body in enumerate(bodies):
        ctx = lake_context(("fw", "edr")[n % 2], "app")
        normalised, rejection = decode_events(body, ctx)
        assert rejection is None, rejection
        writer.append([PendingAppend(normalised.slices)])
    writer.close()


_DUMMY = {HOLE["s"]: "", HOLE["i"]: "0", HOLE["b"]: "true"}


def text_of(tpl: str, row: dict[str, Any]) -> str:
    """An event's lower-cased text from its template and its columns (what free text means
    over a ``REBUILT`` file, ``search/sql.py``), rebuilt here independently."""
    names: list[str] = []

    def walk(obj: dict[str, Any], prefix: str) -> None:
        for k, v in obj.items():
            if type(v) is dict:
                walk(v, prefix + k + ".")
            else:
                names.append(prefix + k)

    walk(orjson.loads("".join(_DUMMY.get(c, c) for c in tpl)), "")
    out, leaves = [], iter(names)
    for c in tpl:
        if c not in _DUMMY:
            out.append(c)
            continue
        kind = {v: k for k, v in HOLE.items()}[c]
        value = row[column_name(next(leaves), kind)]
        out.append(str(value).lower() if kind != "b" else ("true" if value else "false"))
    return "".join(out)


def compact(path: Path, shapes: bool, split: bool = True) -> tuple[RoundResult, list[Any]]:
    """Compact all of ``path``; the result and each file's manifest row and rows, each
    event's text rebuilt where the file keeps none."""
    done = Compactor(path, 1, 0, max_rows=60, shapes=shapes, split=split).run_once()
    manifest = Manifest(manifest_path(path))
    files = manifest.files(tokens=True)
    manifest.close()
    con = duckdb.connect()
    out = []
    for f in files:
        source = f"read_parquet('{tier_dir(path) / f.name}')"
        columns = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        cursor = con.execute(f'SELECT * FROM {source} ORDER BY "offset"')
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        if f.flags & REBUILT:
            assert all(r["raw"] is None for r in rows)
            for r in rows:
                r["raw"] = text_of(r.pop("tpl"), r)
            columns = [c for c in columns if c[0] != "tpl"]
        flags = f.flags & ~REBUILT
        out.append((f.name, f.columns, f.other, flags, f.token_text(), f.min_time, columns, rows))
    con.close()
    return done, out


def agree(tmp_path: Path, bodies: list[bytes]) -> RoundResult:
    """The same files from the Arrow split (``splitter.py``), from the template path in
    DuckDB alone, and from the general path."""
    fast, duck, general = tmp_path / "fast", tmp_path / "duck", tmp_path / "general"
    write_lake(fast, bodies)
    shutil.copytree(fast, general)
    shutil.copytree(fast, duck)
    done, files = compact(fast, True)
    in_duck, duck_files = compact(duck, True, split=False)
    undone, expected = compact(general, False)
    assert undone.templated == 0 and in_duck.split == 0
    assert done.templated >= in_duck.templated
    assert files == expected
    assert duck_files == expected
    return done


def envelope(event: Any, n: int, host: str | None = "h1") -> bytes:
    out: dict[str, Any] = {"time": T0 + n, "event": event}
    if host is not None:
        out["host"] = host
    return orjson.dumps(out)


def uniform(n: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "severity": ["INFO", "ERROR"][n % 2],
        "user": {"name": f"user{n % 7}", "id": n - 40},
        "ok": n % 3 == 0,
        "msg": f"Login failed #{n}" if n < 170 else 'a\tb \\ c "q" /',
    }
    if n % 9 == 0:
        event["extra"] = "x-1"  # a second shape, found in the second round
    return event


def test_machine_logs_go_the_template_way_and_search_agrees(tmp_path: Path) -> None:
    bodies = [
        b"\n".join(envelope(uniform(b * 20 + i), b * 20 + i) for i in range(20)) for b in range(9)
    ]
    done = agree(tmp_path, bodies)
    assert done.files == 3 and done.templated == 2  # escapes in the last: the general path
    assert done.split == 2
    for query in ("failed | count()", "extra=x-1 | groupBy(severity)", "ok=true | count()",
                  "user.id<0 | groupBy(user.name)", "msg=*\\\\* | count()"):  # fmt: skip
        rows, mixed, search = both(tmp_path / "fast", query, TimeRange())
        assert rows == mixed, query
        assert search.stats.columnar_files == 3, query


def test_the_split_takes_shapes_spellings_colons_and_odd_text(tmp_path: Path) -> None:
    """Several shapes and META spellings in a file, text values with colons (split at the
    quotes then), non-ASCII text, 64-bit limits; a file with an escape is left to DuckDB."""

    def event(n: int) -> dict[str, Any]:
        e: dict[str, Any] = {"sev": ["INFO", "Error"][n % 2], "n": n, "ok": n % 3 == 0}
        if n % 4 == 1:
            e = {"at": f"12:{n:02d}", "sev": "x", "user": {"id": -(2**63), "top": 2**63 - 1}}
        if n % 7 == 2:
            e["who"] = "Zoë Straße"
        return e

    def body(b: int, odd: str = "") -> bytes:
        rows = [
            envelope(event(b * 20 + i), b * 20 + i, ("h1", None)[i % 5 == 0]) for i in range(20)
        ]
        if odd:
            rows[7] = envelope({"sev": odd, "n": 1, "ok": True}, b * 20 + 7)
        return b"\n".join(rows)

    bodies = [body(0), body(1), body(2), body(3), body(4), body(5, 'a "quote"')]
    done = agree(tmp_path, bodies)
    assert done.files == 2 and done.split == 1 and done.templated == 1
    for query in ("error | count()", "sev=x | groupBy(at)", "user.top>0 | count()",
                  "straße | count()", "ok=false | groupBy(host)", "12 | count()"):  # fmt: skip
        rows, mixed, search = both(tmp_path / "fast", query, TimeRange())
        assert rows == mixed, query


_KEYS = ["a", "b", "user", "x y", "n"]
_ODD_KEYS = ["a.b", "k/ey"]
_PLAIN = st.one_of(
    st.sampled_from(["ok", "Fail", "", 'a"b', "t\tab", "é", "x/y", "404", "true"]),
    st.integers(-(2**63), 2**64 - 1),
    st.booleans(),
    st.fixed_dictionaries({"c": st.integers(-5, 5)}),
)
_VALUES = st.one_of(_PLAIN, st.sampled_from([2.5, 1e16, -0.0, None, [1], {}]))
_SPELLINGS = [
    b'{"time":%d,"event":{"a":"ok", "b":1}}',  # a space the template does not rebuild
    b'{"time":%d,"event":{"a":"x\\/y","b":1}}',  # an escape that needs none
    b'{"time":%d,"event":{"a":"ok","b":1.0}}',
    b'{"time":%d,"event":{"a":"ok","a":"no"}}',
    b'{"time":%d,"event":"just text"}',
    b'{"time":%d,"event":{"a":"ok","b":1},"fields":{"b":"indexed"}}',
]


@st.composite
def batches(draw: st.DrawFn) -> list[bytes]:
    """Bodies of events mostly of one shape, with some of every kind this path refuses."""
    plain = draw(st.booleans())  # only keys and values the template path takes
    keys = st.sampled_from(_KEYS if plain else _KEYS + _ODD_KEYS)
    base = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    values = {k: draw(_PLAIN if plain else _VALUES) for k in base}
    bodies = []
    n = 0
    for _ in range(draw(st.integers(1, 4))):
        lines = []
        odd = draw(st.booleans())  # a body with events this path refuses, or none
        for _ in range(draw(st.integers(1, 30))):
            n += 1
            choice = draw(st.integers(0, 9 if odd else 7))
            if choice < 6:
                event = {k: (v if choice or not odd else draw(_VALUES)) for k, v in values.items()}
                lines.append(envelope(event, n, draw(st.sampled_from(["h1", None]))))
            elif choice < 8:
                keys = draw(st.permutations(base))
                lines.append(envelope({k: values[k] for k in keys}, n))
            else:
                lines.append(draw(st.sampled_from(_SPELLINGS)) % (T0 + n))
        bodies.append(b"\n".join(lines))
    return bodies


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies=batches())
def test_the_template_path_writes_what_the_general_path_writes(
    tmp_path_factory: Any, bodies: list[bytes]
) -> None:
    agree(tmp_path_factory.mktemp("shapes"), bodies)


def test_the_split_leaves_lines_it_cannot_read_to_duckdb(tmp_path: Path) -> None:
    """Lines that do not decode, a deeply nested event, a batch of a line too few: None, and
    no file (the compactor then writes it the other ways)."""
    con = duckdb.connect()
    target = tmp_path / "x.parquet"
    meta = b'{"time":1,"host":"h","source":"s"}\t'
    deep = b'{"a":' * 2000 + b"1" + b"}" * 2000
    for data in (b"not json", meta + b"{oops", meta + deep, meta + b'{"a":1}\n' + b"x\ty"):
        lines = data.count(b"\n") + 1
        assert (
            splitter.write_file(con, data, 0, [(0, lines, 1, 0)], [("c", "i", "s")], 0, target)
            is None
        )
        assert not target.exists()


def test_the_split_writes_its_files_encoded_as_duckdb_would(tmp_path: Path) -> None:
    """Arrow's writer (``writer.finish_table``): one row group; a dictionary for a column of
    few distinct values (read dictionary-encoded, or the tags and shapes), delta encodings for
    one whose values mostly differ; and search reads the file."""
    import pyarrow.parquet as pq

    def event(n: int) -> dict[str, Any]:
        return {
            "severity": ["INFO", "ERROR"][n % 2],
            "user": {"name": f"user{n % 7}", "id": n * 7919},
            "msg": f"login {n} failed",
        }

    bodies = [
        b"\n".join(envelope(event(b * 100 + i), b * 100 + i) for i in range(100)) for b in range(30)
    ]
    path = tmp_path / "lake"
    write_lake(path, bodies)
    done = Compactor(path, 1, 0).run_once(now_ns=2**62)
    assert done.files == 1 and done.split == 1
    manifest = Manifest(manifest_path(path))
    (entry,) = manifest.files()
    manifest.close()
    meta = pq.ParquetFile(tier_dir(path) / entry.name).metadata
    assert meta.num_row_groups == 1 and meta.num_rows == 3000
    assert meta.created_by.startswith("parquet-cpp-arrow")
    group = meta.row_group(0)
    encodings = {
        group.column(i).path_in_schema: set(group.column(i).encodings)
        for i in range(group.num_columns)
    }
    for name in ("offset", "time", "user.id:i", "msg:s"):
        assert "RLE_DICTIONARY" not in encodings[name], name
    assert "DELTA_BINARY_PACKED" in encodings["user.id:i"]
    assert "DELTA_LENGTH_BYTE_ARRAY" in encodings["msg:s"]
    for name in ("severity:s", "user.name:s", "connector", "tpl", "batch"):
        assert "RLE_DICTIONARY" in encodings[name], name
    rows, mixed, _ = both(path, "severity=ERROR | groupBy(user.name)", TimeRange())
    assert rows == mixed
