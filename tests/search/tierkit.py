"""Generated lakes and queries for comparing the row engine with search over both tiers."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from lakehose.parsers.hec import decode_events
from lakehose.query import plan_query
from lakehose.query.timerange import TimeRange
from lakehose.search.engine import Search
from lakehose.search.run import run_search
from lakehose.storage.base import PendingAppend
from lakehose.storage.columnar.compactor import Compactor
from lakehose.storage.lake import open_columnar, open_readers
from lakehose.storage.sqlite.partition import PartitionWriter, create_partition
from tests.helpers import lake_context

T0 = 1_700_000_000
WORDS = ["failed", "FAILED", "login", "ok", "denied", "Fail", "user", "x-1", "a_b", "50%"]
ODD = ["é", "İstanbul", "straße", "ΣΑΣ"]


def _value(rng: random.Random) -> Any:
    return rng.choice(
        [404, "404", 2.5, 0.5, -3, True, False, "007", "ERROR", "", None, [1, 2], {"k": 1}]
    )


def _event(rng: random.Random, n: int, non_ascii: bool) -> dict[str, Any]:
    words = WORDS + (ODD if non_ascii else [])
    msg = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.1:
        return {"time": T0 + n, "event": msg, "host": rng.choice(["h1", "h2"])}
    event: dict[str, Any] = {
        "n": n,
        "severity": rng.choice(["INFO", "ERROR", "warn", "Error"]),
        "status": rng.choice([200, 404, 500, "404", 2.5, True, 1, 1.0]),
        "msg": msg,
    }
    if rng.random() < 0.7:
        event["user"] = {"name": f"user{rng.randint(0, 5):02d}", "id": rng.randint(0, 9)}
    elif rng.random() < 0.5:
        event["user.name"] = f"user{rng.randint(0, 5):02d}"
    if rng.random() < 0.3:
        event["tags"] = rng.choice([["a", "b"], "a", None])
    if rng.random() < 0.02:
        event["rare"] = _value(rng)
    if rng.random() < 0.2:
        # 0.1, 0.7 and 1e16 make a float sum depend on the order of adding, as the two
        # tiers' orders differ: sum() and avg() must add exactly
        event["score"] = rng.choice([1, 2.5, 0.5, 7, 0.1, 0.7, 1e16, -1e16, 3])
    envelope: dict[str, Any] = {"time": T0 + n, "event": event}
    if rng.random() < 0.8:
        envelope["host"] = rng.choice(["h1", "h2", "h3"])
    if rng.random() < 0.2:
        envelope["fields"] = {"env": rng.choice(["prod", "dev"])}
    return envelope


def _shaped(rng: random.Random, n: int, non_ascii: bool) -> dict[str, Any]:
    """An event of a few shapes (machine logs): the compactor's template path takes these."""
    words = WORDS + (ODD if non_ascii else [])
    event: dict[str, Any] = {
        "severity": rng.choice(["INFO", "ERROR", "warn", "Error"]),
        "status": rng.choice([200, 404, 500, -1]),
        "msg": " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))),
        "ok": rng.random() < 0.5,
    }
    if rng.random() < 0.7:
        event["user"] = {"name": f"user{rng.randint(0, 5):02d}", "id": rng.randint(-3, 9)}
    if rng.random() < 0.1:
        event = dict(reversed(event.items()))
    return {"time": T0 + n, "event": event, "host": rng.choice(["h1", "h2", "h3"])}


def build_lake(
    path: Path,
    seed: int,
    *,
    batches: int = 24,
    per_batch: int = 25,
    partitions: int = 2,
    non_ascii: bool = False,
    in_sql: bool = True,
    shaped: bool = False,
) -> None:
    """A lake of ``batches`` batches; about the first two thirds compacted, in two rounds."""
    rng = random.Random(seed)
    writers = []
    for p in range(partitions):
        create_partition(path, p)
        writers.append(PartitionWriter(path, p, durability="none", zstd_level=1))
    stamps = []
    n = 0
    for b in range(batches):
        ctx = lake_context(rng.choice(["fw", "edr"]), rng.choice(["test", "syslog"]))
        make = _shaped if shaped and b % 5 != 4 else _event  # some batches of any shape
        envelopes = [make(rng, n + i, non_ascii) for i in range(per_batch)]
        n += per_batch
        normalised, rejection = decode_events(b"\n".join(orjson.dumps(e) for e in envelopes), ctx)
        assert rejection is None
        writers[b % partitions].append([PendingAppend(normalised.slices)])
        stamps.append(time.time_ns())
    for w in writers:
        w.close()
    compactor = Compactor(path, partitions, 0, max_rows=per_batch * 3, in_sql=in_sql)
    compactor.run_once(now_ns=stamps[batches // 3])
    compactor.run_once(now_ns=stamps[2 * batches // 3])


FIELDS = [
    "severity",
    "user.name",
    "user.id",
    "status",
    "host",
    "source",
    "#connector",
    "msg",
    "tags",
    "rare",
    "env",
    "score",
    "n",
    "nothing",
    "user",
    "@rawstring",
    "time",
    "offset",
    "fields.env",
    "event.status",
]
VALUES = [
    "ERROR",
    "Error",
    "user01",
    "user0*",
    "*",
    "404",
    "2.5",
    "true",
    "007",
    "h1",
    "fw",
    "*fail*",
    "a",
    "prod",
    "0.5",
    "200",
    "-3",
    "*0",
    '"x y"',
]
NUMBERS = ["404", "2.5", "0", "7", "-3", "1700000100000000000", "200.0"]


def _atom() -> st.SearchStrategy[str]:
    compare = st.builds(
        lambda f, op, v: f"{f}{op}{v}",
        st.sampled_from(FIELDS),
        st.sampled_from(["=", "!="]),
        st.sampled_from(VALUES),
    )
    ordered = st.builds(
        lambda f, op, v: f"{f}{op}{v}",
        st.sampled_from(FIELDS),
        st.sampled_from(["<", "<=", ">", ">="]),
        st.sampled_from(NUMBERS),
    )
    free = st.sampled_from(
        [
            "failed",
            "FAIL",
            "login",
            "x-1",
            "a_b",
            "50%",
            "fail*ed",
            '"failed login"',
            "/fail/i",
            "é",
            "ista",
            "zzz",
            "user",
        ]
    )
    return st.one_of(compare, ordered, free)


def filters() -> st.SearchStrategy[str]:
    return st.recursive(
        _atom(),
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a} and {b})", inner, inner),
            st.builds(lambda a, b: f"({a} or {b})", inner, inner),
            st.builds(lambda a: f"not {a}", inner),
        ),
        max_leaves=4,
    )


PIPES = [
    "count()",
    "groupBy(severity)",
    "groupBy(status)",
    "groupBy(host)",
    "groupBy([#connector, user.name])",
    "groupBy(user.name, function=[count(), sum(status), min(score), max(score), avg(score)])",
    "groupBy(severity, function=count(user.name, distinct=true))",
    "sum(score)",
    "avg(status)",
    "groupBy(tags)",
    "groupBy(env)",
    "groupBy(source) | sort(_count)",
    "groupBy(status, limit=2)",
    "head(5)",
    "tail(3)",
    "table([n, status])",
]


def queries() -> st.SearchStrategy[str]:
    return st.builds(
        lambda f, p: f"{f} | {p}" if f else p,
        st.one_of(st.just(""), filters()),
        st.sampled_from(PIPES),
    )


SPANS = [
    TimeRange(),
    TimeRange((T0 + 100) * 10**9, (T0 + 400) * 10**9),
    TimeRange(None, (T0 + 50) * 10**9),
]


def both(lake: Path, query: str, span: TimeRange) -> tuple[list[Any], list[Any], Search]:
    """Rows from the row engine alone, and from both tiers (with the search of the latter)."""
    plan = plan_query(query)
    rows, _ = run_search(lambda: open_readers(lake), plan, span, limit=None)
    mixed, search = run_search(
        lambda: open_readers(lake),
        plan_query(query),
        span,
        limit=None,
        columnar=lambda: open_columnar(lake),
    )
    return rows, mixed, search
