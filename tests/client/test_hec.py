"""HEC against a real lakehose: what FalconPy's helper does, batched, with exact results."""

from __future__ import annotations

import gzip
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from lakehose.client import HEC, IngestPayload, Rejection
from lakehose.testing import RunningServer
from tests.helpers import stored_events


def _run_id() -> str:
    return uuid.uuid4().hex[:12]


def mine(server: RunningServer, run: str) -> list[dict[str, Any]]:
    """Stored events of one test run (events carrying ``"run": run``), in offset order."""
    return [
        e
        for e in stored_events(server.data_dir)
        if isinstance(e["event"], dict) and e["event"].get("run") == run
    ]


def test_send_event_stores_falconpys_payload_with_its_timestamp_as_the_event_time(
    server: RunningServer,
) -> None:
    run = _run_id()
    with HEC(server.api_key, base_url=server.url, ingest_timeunit="seconds") as hec:
        status = hec.send_event(
            {
                "host": "web1",
                "run": run,
                "action": "login",
                "timestamp": 1_700_000_000,
                "fields": {"env": "prod"},
            }
        )
        assert status == 200
        assert hec.last_status == 200
        assert hec.last_message == {"text": "Success", "code": 0}
        assert hec.last_result is not None and hec.last_result.accepted == 1
    (stored,) = mine(server, run)
    assert stored["event"] == {
        "host": "web1",
        "timestamp": 1_700_000_000,
        "timeunit": "seconds",
        "run": run,
        "action": "login",
    }
    assert stored["time"] == 1_700_000_000 * 10**9
    assert stored["fields"] == {"env": "prod"}


def test_default_timestamps_are_nanoseconds_and_become_the_event_time(
    server: RunningServer,
) -> None:
    run = _run_id()
    with HEC(server.api_key, base_url=server.url) as hec:
        assert hec.send_event(IngestPayload(host="h", run=run)) == 200
    (stored,) = mine(server, run)
    assert stored["event"]["timeunit"] == "nanoseconds"
    assert stored["time"] == stored["event"]["timestamp"]


def test_send_event_list_with_one_thread_stores_exactly_the_events_in_order(
    server: RunningServer,
) -> None:
    run = _run_id()
    events = [{"run": run, "n": i, "timestamp": 1_700_000_000_000 + i} for i in range(500)]
    with HEC(
        server.api_key,
        base_url=server.url,
        thread_count=1,
        batch_size=64,
        ingest_timeunit="milliseconds",
    ) as hec:
        assert hec.send_event_list(events) == 500
        result = hec.last_result
    assert result is not None
    assert (result.sent, result.accepted, result.rejected, result.requests) == (500, 500, 0, 8)
    assert list(result.accepted_indexes()) == list(range(500))
    stored = mine(server, run)
    assert [e["event"]["n"] for e in stored] == list(range(500))
    assert [e["time"] for e in stored] == [(1_700_000_000_000 + i) * 10**6 for i in range(500)]


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_concurrent_compressed_batches_deliver_every_event_once(
    server: RunningServer, compression: str | None
) -> None:
    run = _run_id()
    events = [{"run": run, "n": i, "pad": "x" * (i % 50)} for i in range(2000)]
    with HEC(
        server.api_key, base_url=server.url, compression=compression, batch_size=150, thread_count=4
    ) as hec:
        assert hec.send_event_list(events) == 2000
        assert hec.last_result is not None and hec.last_result.requests == 14
    assert sorted(e["event"]["n"] for e in mine(server, run)) == list(range(2000))


def test_batches_are_cut_by_bytes_as_well_as_by_count(server: RunningServer) -> None:
    run = _run_id()
    events = [{"run": run, "n": i, "pad": "y" * 1000} for i in range(40)]
    with HEC(server.api_key, base_url=server.url, batch_bytes=10_000, thread_count=1) as hec:
        assert hec.send_event_list(events) == 40
        assert hec.last_result is not None and hec.last_result.requests == 5
    assert [e["event"]["n"] for e in mine(server, run)] == list(range(40))


def test_show_progress_is_falconpys_lazy_running_count(server: RunningServer) -> None:
    run = _run_id()
    events = [{"run": run, "n": i} for i in range(30)]
    with HEC(server.api_key, base_url=server.url, batch_size=7) as hec:
        counts = hec.send_event_list(events, show_progress=True)
        assert not isinstance(counts, int)
        assert mine(server, run) == [], "nothing is sent before the iterator is consumed"
        assert sorted(counts) == list(range(1, 31))
        assert hec.last_result is not None and hec.last_result.accepted == 30
    assert len(mine(server, run)) == 30


@pytest.mark.parametrize("fmt", ["json", "yaml", "xml", "csv"])
def test_every_ingest_format_is_accepted_and_stored(server: RunningServer, fmt: str) -> None:
    run = _run_id()
    with HEC(server.api_key, base_url=server.url, ingest_format=fmt) as hec:
        assert hec.send_event({"run": run, "fmt": fmt}) == 200
        assert hec.send_event_list([{"run": run, "fmt": fmt, "n": 1}]) == 1
    assert [e["event"]["fmt"] for e in mine(server, run)] == [fmt, fmt]


def test_a_rejected_event_in_a_batch_is_reported_and_the_rest_is_stored_once(
    server: RunningServer,
) -> None:
    run = _run_id()
    events: list[Any] = [
        {"event": {"run": run, "n": 0}},
        {"event": ""},
        {"event": {"run": run, "n": 2}},
        {"event": None},
        {"event": {"run": run, "n": 4}},
    ]
    with HEC(server.api_key, base_url=server.url, thread_count=1) as hec:
        result = hec.send_events(events)
    assert (result.sent, result.accepted, result.rejected, result.requests) == (5, 3, 2, 3)
    assert result.rejections == [
        Rejection(1, 1, 400, 13, "Event field cannot be blank", 1),
        Rejection(3, 1, 400, 12, "Event field is required", 1),
    ]
    assert list(result.accepted_indexes()) == [0, 2, 4]
    assert not result.ok and result.is_accepted(2) and not result.is_accepted(3)
    assert [e["event"]["n"] for e in mine(server, run)] == [0, 2, 4]


def test_send_events_takes_splunk_envelopes_with_their_metadata(server: RunningServer) -> None:
    run = _run_id()
    events = [
        {
            "event": {"run": run, "n": 0},
            "time": 1_600_000_000.25,
            "sourcetype": "app",
            "host": "h0",
            "source": "s",
        },
        {"run": run, "n": 1},
    ]
    with HEC(server.api_key, base_url=server.url, thread_count=1) as hec:
        assert hec.send_events(events).accepted == 2
    first, second = mine(server, run)
    assert (first["time"], first["sourcetype"], first["host"], first["source"]) == (
        1_600_000_000_250_000_000,
        "app",
        "h0",
        "s",
    )
    assert second["event"] == {"run": run, "n": 1}


def test_raw_ingest_sends_lines_to_the_raw_endpoint(server: RunningServer) -> None:
    run = _run_id()
    with HEC(server.api_key, base_url=server.url, raw_ingest=True, thread_count=1) as hec:
        result = hec.send_events([f"{run} line one", {"run": run, "n": 2}, f"{run} line three"])
        assert result.accepted == 3
        assert hec.send_event({"run": run, "n": 4}) == 200
    texts = [e["event"] for e in stored_events(server.data_dir) if run in str(e["event"])]
    assert texts[0] == f"{run} line one"
    assert texts[1] == {"run": run, "n": 2}
    assert texts[2] == f"{run} line three"
    # FalconPy's raw payload: the JSON text of {"event": {...}}, without fields
    assert texts[3]["event"]["n"] == 4 and set(texts[3]) == {"event"}


@pytest.mark.parametrize("raw", [False, True], ids=["event-endpoint", "raw-endpoint"])
def test_send_event_file_sends_every_line_of_a_gzipped_file(
    server: RunningServer, tmp_path: Path, raw: bool
) -> None:
    run = _run_id()
    path = tmp_path / "events.ndjson.gz"
    path.write_bytes(
        gzip.compress(b"".join(b'{"run":"%s","n":%d}\n\n' % (run.encode(), i) for i in range(25)))
    )
    with HEC(
        server.api_key, base_url=server.url, raw_ingest=raw, batch_size=10, thread_count=1
    ) as hec:
        assert hec.send_event_file(path) == 200
        assert hec.last_result is not None
        assert (hec.last_result.accepted, hec.last_result.requests) == (25, 3)
    assert [e["event"]["n"] for e in mine(server, run)] == list(range(25))


def test_test_connection_is_true_with_a_good_key_and_false_with_a_bad_one(
    server: RunningServer,
) -> None:
    with HEC(server.api_key, base_url=server.url) as hec:
        assert hec.test_connection() is True
    with HEC("not-a-key", base_url=server.url) as hec:
        assert hec.test_connection() is False
        assert hec.last_status == 403
        assert hec.last_message == {"text": "Invalid token", "code": 4}


def test_a_bad_key_rejects_every_event_with_the_hec_reason(server: RunningServer) -> None:
    with HEC("not-a-key", base_url=server.url) as hec:
        assert hec.send_event_list([{"n": i} for i in range(10)]) == 0
        assert hec.last_result is not None
        assert hec.last_result.rejections == [Rejection(0, 10, 403, 4, "Invalid token")]
        assert hec.last_result.reasons() == [("403 code 4: Invalid token", 10)]


def test_the_splunk_auth_scheme_works_too(server: RunningServer) -> None:
    with HEC(server.api_key, base_url=server.url, auth_scheme="Splunk") as hec:
        assert hec.test_connection()


def test_debug_log_masks_the_key_unless_sanitize_log_is_false(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="lakehose.client")
    with HEC(server.api_key, base_url=server.url, debug=True) as hec:
        hec.send_event({"note": f"the key is {server.api_key}"})
        hec.send_event_list([{"n": 1}, {"n": 2}])
    logged = caplog.text
    assert "REQUEST: POST" in logged and "RESPONSE CODE: 200" in logged
    assert server.api_key is not None and server.api_key not in logged
    assert "Bearer ****" in logged
    caplog.clear()
    with HEC(server.api_key, base_url=server.url, debug=True, sanitize_log=False) as hec:
        hec.send_event({"n": 3})
    assert f"Bearer {server.api_key}" in caplog.text


def test_without_debug_nothing_is_logged(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="lakehose.client")
    with HEC(server.api_key, base_url=server.url) as hec:
        hec.send_event({"n": 1})
    assert caplog.records == []


def test_unreadable_input_records_are_refused_in_place_and_the_rest_is_sent(
    server: RunningServer,
) -> None:
    import io

    from lakehose.client import read_events

    run = _run_id()
    data = f'{{"run":"{run}","n":0}}\n{{oops\n{{"run":"{run}","n":2}}\n'.encode()
    with HEC(server.api_key, base_url=server.url, thread_count=1) as hec:
        result = hec.send_events(read_events(io.BytesIO(data)))
    assert (result.sent, result.accepted) == (3, 2)
    (rejection,) = result.rejections
    assert (rejection.index, rejection.status) == (1, None)
    assert rejection.text.startswith("line 2: not valid JSON")
    assert [e["event"]["n"] for e in mine(server, run)] == [0, 2]


def test_send_events_draws_a_progress_bar_on_stderr(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_id()
    with HEC(server.api_key, base_url=server.url, batch_size=100) as hec:
        result = hec.send_events([{"run": run, "n": i} for i in range(1000)], progress=True)
    assert result.accepted == 1000
    captured = capsys.readouterr()
    assert "sending" in captured.err and "1,000 sent, 1,000 accepted, 0 rejected" in captured.err
    assert captured.out == ""


def test_a_progress_callback_sees_every_batch(server: RunningServer) -> None:
    seen: list[tuple[int, int]] = []
    with HEC(server.api_key, base_url=server.url, batch_size=10, thread_count=1) as hec:
        hec.send_events(
            [{"n": i} for i in range(35)],
            progress=lambda batch, so_far: seen.append((batch.count, so_far.sent)),
        )
    assert seen == [(10, 10), (10, 20), (10, 30), (5, 35)]
