"""The collector's YAML: the LogScale Collector's schema, ${VAR}, every problem with its path."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from lakehose.collector.config import CollectorConfigError, load_config, parse_config
from tests.helpers import cli

NGSIEM_EXAMPLE = """\
dataDirectory: {data}
sources:
  syslog_udp_514:
    type: syslog
    mode: udp
    port: 514
    sink: ngsiem
sinks:
  ngsiem:
    type: hec
    proxy: none
    token: ${{NGSIEM_TOKEN}}
    url: https://ingest.us-1.crowdstrike.com/api/ingest/hec/abc123/v1/services/collector
"""


def problems(data: object, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(CollectorConfigError) as info:
        parse_config(data, environ or {})
    return info.value.problems


def test_ngsiem_page_example_reads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(NGSIEM_EXAMPLE.format(data=tmp_path / "state"))
    config = load_config(path, {"NGSIEM_TOKEN": "t0k3n"})
    source = config.sources["syslog_udp_514"]
    assert (source.type, source.mode, source.port, source.sink) == ("syslog", "udp", 514, "ngsiem")
    sink = config.sinks["ngsiem"]
    assert (sink.type, sink.proxy, sink.token) == ("hec", "none", "t0k3n")
    assert sink.queue.type == "memory" and sink.compression == "gzip"


def test_sink_keys_map_to_sink_config() -> None:
    config = parse_config(
        {
            "dataDirectory": "/tmp/x",
            "sources": {"s": {"type": "stdin", "sink": "k"}},
            "sinks": {
                "k": {
                    "type": "logscale",
                    "url": "http://127.0.0.1:1/services/collector",
                    "token": "t",
                    "proxy": "http://proxy:3128",
                    "tls": {"insecure": True},
                    "compression": "zstd",
                    "maxBatchSize": 4096,
                    "maxEventSize": 2048,
                    "useAck": True,
                    "ackTimeoutInMillisecond": 5000,
                    "deadLetter": {"maxFileSizeInMB": 0.5, "maxFiles": 2},
                    "queue": {
                        "type": "disk",
                        "maxLimitInMB": 64,
                        "fullAction": "deleteOldest",
                        "flushTimeOutInMillisecond": 200,
                    },
                }
            },
        },
        {},
    )
    sink = config.sinks["k"]
    assert (sink.type, sink.proxy, sink.tls_insecure, sink.compression) == (
        "logscale",
        "http://proxy:3128",
        True,
        "zstd",
    )
    assert (sink.max_batch_size, sink.max_event_size, sink.use_ack) == (4096, 2048, True)
    assert sink.ack_timeout_ms == 5000
    assert (sink.dead_letter.max_file_size_mb, sink.dead_letter.max_files) == (0.5, 2)
    q = sink.queue
    assert (q.type, q.max_limit_mb, q.full_action, q.flush_timeout_ms) == (
        "disk",
        64,
        "deleteOldest",
        200,
    )


def test_every_problem_is_named_by_its_yaml_path() -> None:
    found = problems(
        {
            "dataDirectory": "/tmp/x",
            "logLevl": "info",
            "sources": {
                "app": {
                    "type": "file",
                    "sink": "nowhere",
                    "include": ["relative/*.log", {"a": 1}],
                    "inactivityTimeout": "soon",
                    "transforms": [{"type": "regex_filter", "pattern": "("}],
                },
                "sys": {"type": "syslog", "mode": "sctp", "port": 70000, "sink": "lake"},
                "odd": {"type": "carrier-pigeon", "sink": "lake"},
            },
            "sinks": {
                "lake": {
                    "url": "ftp://x",
                    "queue": {"type": "tape", "fullAction": "panic", "extra": 1},
                    "tls": {"insecure": "maybe"},
                    "deadLetter": {"maxFiles": 0, "keep": 3},
                    "ackTimeoutInMillisecond": 5,
                }
            },
        }
    )
    expected_paths = [
        "(top).logLevl: unknown key",
        "sources.app.sink: names no sink",
        "sources.app.include[1]: must be a string",
        "sources.app.include[0]: must be an absolute path",
        "sources.app.inactivityTimeout: must be a number",
        "sources.app.transforms[0].pattern: is not a valid regular expression",
        "sources.sys.mode: must be one of udp, tcp",
        "sources.sys.port: must be between 0 and 65535",
        "sources.odd.type: must be one of",
        "sinks.lake.url: must be an http:// or https:// URL",
        "sinks.lake.token: is required",
        "sinks.lake.queue.extra: unknown key",
        "sinks.lake.queue.type: must be one of memory, disk",
        "sinks.lake.queue.fullAction: must be one of pause, deleteOldest",
        "sinks.lake.tls.insecure: must be true or false",
        "sinks.lake.deadLetter.keep: unknown key",
        "sinks.lake.deadLetter.maxFiles: must be between 1 and 1000",
        "sinks.lake.ackTimeoutInMillisecond: must be between 100",
    ]
    for prefix in expected_paths:
        assert any(p.startswith(prefix) for p in found), (prefix, found)


def test_env_vars_expand_and_a_missing_one_is_named() -> None:
    data = {
        "dataDirectory": "${STATE}/c",
        "sources": {"s": {"type": "stdin", "sink": "k"}},
        "sinks": {"k": {"url": "http://${HOST}:8088", "token": "${TOKEN}"}},
    }
    config = parse_config(data, {"STATE": "/var/lib", "HOST": "lake", "TOKEN": "abc"})
    assert config.data_directory == Path("/var/lib/c")
    assert config.sinks["k"].url == "http://lake:8088"
    assert config.sinks["k"].token == "abc"
    found = problems(data, {"STATE": "/s", "HOST": "h"})
    assert found == ["sinks.k.token: environment variable TOKEN is not set"]


def test_unknown_source_key_for_its_type_is_an_error() -> None:
    found = problems(
        {
            "dataDirectory": "/x",
            "sources": {"s": {"type": "stdin", "sink": "k", "port": 514}},
            "sinks": {"k": {"url": "http://h", "token": "t"}},
        }
    )
    assert found[0].startswith("sources.s.port: unknown key")


def test_validate_command_lists_problems_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataDirectory": str(tmp_path),
                "sources": {"s": {"type": "syslog", "mode": "udp", "sink": "k", "prot": 1}},
                "sinks": {"k": {"type": "hec", "url": "http://127.0.0.1:9", "token": "t"}},
            }
        )
    )
    proc = cli("collect", "validate", "--config", str(path), check=False)
    assert proc.returncode == 2
    assert "sources.s.prot: unknown key" in proc.stderr
    path.write_text(NGSIEM_EXAMPLE.format(data=tmp_path / "state").replace("${NGSIEM_TOKEN}", "x"))
    out = cli("collect", "validate", "--config", str(path), "--json")
    assert orjson.loads(out.stdout) == {
        "valid": True,
        "sources": ["syslog_udp_514"],
        "sinks": ["ngsiem"],
    }


def test_validate_names_yaml_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sources: [unclosed\n")
    proc = cli("collect", "validate", "--config", str(path), check=False)
    assert proc.returncode == 2
    assert "not valid YAML" in proc.stderr
