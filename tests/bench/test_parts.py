"""The harness's pure parts: canned bodies, CPU lists, latency percentiles, companion scripts."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import orjson
import pytest
import zstandard

from bench.companions import run_companion
from bench.load import latency_bucket, percentiles
from bench.payloads import INGEST_SCENARIOS, build
from bench.procstat import parse_cpus


def test_batch_bodies_hold_a_hundred_hec_envelopes_of_about_170_bytes() -> None:
    payload = build("batch")
    lines = payload.body.splitlines()
    assert payload.events == len(lines) == 100
    assert all(160 <= len(line) <= 180 for line in lines)
    assert all("event" in orjson.loads(line) for line in lines)
    assert len(set(lines)) == 100


@pytest.mark.parametrize("scenario", INGEST_SCENARIOS)
def test_every_scenario_is_deterministic_and_declares_its_uncompressed_size(scenario: str) -> None:
    payload = build(scenario)
    assert payload == build(scenario)
    plain = {
        None: lambda b: b,
        "gzip": gzip.decompress,
        "zstd": zstandard.ZstdDecompressor().decompressobj().decompress,
    }[payload.content_encoding](payload.body)
    assert len(plain) == payload.raw_bytes


def test_compressed_batches_carry_the_same_events_as_the_plain_one() -> None:
    plain = build("batch").body
    assert gzip.decompress(build("batch-gzip").body) == plain
    assert (
        zstandard.ZstdDecompressor().decompressobj().decompress(build("batch-zstd").body) == plain
    )


def test_raw_bodies_are_lines_of_text_for_the_raw_endpoint() -> None:
    payload = build("raw")
    assert payload.path == "/services/collector/raw"
    assert len(payload.body.splitlines()) == payload.events == 100
    assert payload.body.startswith(b"<134>")


@pytest.mark.parametrize(
    ("text", "cpus"), [("0", {0}), ("1,3", {1, 3}), ("0-2", {0, 1, 2}), ("0,2-3", {0, 2, 3})]
)
def test_cpu_lists_are_read_as_taskset_reads_them(text: str, cpus: set[int]) -> None:
    assert parse_cpus(text) == cpus


def test_latency_percentiles_are_within_two_percent() -> None:
    samples = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1 s
    histogram = Counter(latency_bucket(s) for s in samples)
    result = percentiles(histogram)
    for name, exact_ms in (("p50", 500), ("p90", 900), ("p99", 990), ("max", 1000)):
        assert result[name] == pytest.approx(exact_ms, rel=0.02)


def test_a_missing_companion_script_says_it_is_not_available_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_companion("search", ["--x"], here=tmp_path) == 2
    assert "not available yet" in capsys.readouterr().err


def test_the_streams_script_gets_json_then_the_scenario_name_then_the_arguments(
    tmp_path: Path,
) -> None:
    out = tmp_path / "argv.json"
    (tmp_path / "streams_bench.py").write_text(
        f"import json, sys\nopen({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))\nsys.exit(3)\n"
    )
    assert run_companion("live-latency", ["--seconds", "5"], here=tmp_path) == 3
    assert orjson.loads(out.read_text()) == ["live-latency", "--seconds", "5"]
    assert run_companion("replay", ["--runs", "1", "--json"], here=tmp_path) == 3
    assert orjson.loads(out.read_text()) == ["--json", "replay", "--runs", "1"]


def test_the_columnar_bench_runs_and_both_engines_agree(tmp_path: Path) -> None:
    """``bench/columnar_bench.py`` on a small lake: it asserts the row engine's and the
    columnar tier's answers are equal, and reports a rate for every query."""
    import io
    from contextlib import redirect_stdout

    from bench import columnar_bench

    out = io.StringIO()
    with redirect_stdout(out):
        code = columnar_bench.main(
            ["--events", "3000", "--repeat", "1", "--json", "--data-dir", str(tmp_path / "lake")]
        )
    assert code == 0
    found = orjson.loads(out.getvalue())
    assert found["compaction"]["events"] == 3000
    for key in ("filter_group_by", "rare_value_count", "free_text_count"):
        q = found["queries"][key]
        assert q["columnar_files"] >= 1 and q["columnar"] > 0 and q["duckdb_parquet"] > 0
