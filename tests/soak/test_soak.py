"""Soak: 50 concurrent HEC senders and 5 stream consumers for a while; no errors, no loss, flat memory.

The load: 50 sender threads (httpx, one connection each), as fast as they can, with
batches of 1, 5, 20, 100 or 500 events, a third of them gzip, a fifth on channels of an ack
connector (polling ``/services/collector/ack``); against a 2-worker server, one partition.
5 ``StreamConsumer`` processes (their own processes, so they do not share this one's GIL
with the senders) read the stream from offset 0 while it grows.

Asserted:

- no errors: every request is answered 200 code 0, or 503 code 9 ("server is busy",
  nothing taken), which the sender retries after ``Retry-After`` with the same events; every
  ack id is eventually answered true;
- no loss: the lake (read from its files: dense offsets, every batch decodes) holds each
  acknowledged event exactly once, and nothing else; each consumer saw offsets 0 to the
  end, in order, with no gap and no repeat, and exactly the lake's events;
- flat memory: the RSS of each server process at the end of the load is under 1.5 times its
  RSS after the warm-up (the first 10 %, 5 to 60 s) plus 32 MB, and never over 300 MB (sampled
  every 2 s until the consumers have read everything).

A summary line (duration, events, events/s, consumers' counts, RSS at start, end and peak per
process) is printed and written to ``soak-summary.txt`` in the test's tmp directory.

The fast variant (20 s of load, about a minute in all) runs in ``make test``; ``make soak`` runs ``LAKEHOSE_SOAK_SECONDS``
(600 s by default).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from lakehose.testing import run_server
from tests.client.consumerkit import api_client
from tests.helpers import bearer_token, create_connector, process_role
from tests.soak.soakkit import (
    Ledger,
    MemorySampler,
    SenderSpec,
    Sent,
    read_lake,
    same,
    sender,
    start_consumers,
)

SENDERS = 50
CONSUMERS = 5
MB = 1024 * 1024
SLOW_SECONDS = float(os.environ.get("LAKEHOSE_SOAK_SECONDS", "600"))


def specs() -> list[SenderSpec]:
    sizes = [1, 5, 20, 100, 500]
    return [
        SenderSpec(number=i, batch=sizes[i % 5], gzip=i % 3 == 0, ack=i % 5 == 2)
        for i in range(SENDERS)
    ]


def soak(tmp_path: Path, seconds: float) -> str:
    data_dir = tmp_path / "data"
    sent = [Sent() for _ in range(SENDERS)]
    with run_server(data_dir, workers=2, args=["--heartbeat-interval", "1"]) as server:
        assert server.proc is not None
        with httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {bearer_token(server, 'admin')}"},
        ) as admin:
            ack_key = create_connector(admin, "soak-acked", use_ack=True)
        credentials = api_client(server)
        procs, ends, results = start_consumers(server.url, credentials, CONSUMERS)
        sampler = MemorySampler(server.proc.pid).start()
        try:
            warm_up = min(max(5.0, seconds * 0.1), 60.0)
            began = time.monotonic()
            until = began + seconds
            threads = []
            for spec, s in zip(specs(), sent, strict=True):
                key, channel = (
                    (ack_key, str(uuid.uuid4())) if spec.ack else (str(server.api_key), None)
                )
                threads.append(
                    threading.Thread(target=sender, args=(spec, server.url, key, channel, until, s))
                )
            for thread in threads:
                thread.start()
            time.sleep(warm_up)
            start_rss = sampler.now()
            for thread in threads:
                thread.join(seconds + 120)
            duration = time.monotonic() - began
            end_rss = sampler.now()
            errors = [e for s in sent for e in s.errors]
            assert not errors, errors[:5]
            end, held = read_lake(data_dir)
            for q in ends:
                q.put(end)
            seen: dict[str, tuple[int, Ledger, list[str], dict[str, int]]] = {}
            for _ in procs:
                app_id, last, ledger, problems, stats = results.get(timeout=max(120.0, seconds))
                seen[app_id] = (last, defaultdict(bytearray, ledger), problems, stats)
            for p in procs:
                p.join(30)
        finally:
            sampler.stop()  # the peak covers the consumers' catching up too
            for proc in procs:  # those a failure left behind
                if proc.is_alive():
                    proc.kill()
        peak = sampler.peak()
        roles = {pid: process_role(pid) for pid in end_rss}

    acked: Ledger = {n: s.acked for n, s in enumerate(sent)}
    assert not same(held, acked), "the lake does not hold exactly the acknowledged events"
    assert max((max(r, default=0) for r in held.values()), default=0) == 1  # nothing twice
    for app_id, (last, ledger, problems, _) in seen.items():
        assert not problems, (app_id, problems)
        assert last == end, (app_id, last, end)
        assert not same(ledger, held), f"{app_id} did not see exactly the lake's events"
    for pid, rss in end_rss.items():
        assert pid in start_rss, "a server process was replaced during the soak"
        assert rss < start_rss[pid] * 1.5 + 32 * MB, (pid, start_rss[pid], rss)
        assert peak[pid] < 300 * MB, (pid, peak[pid])

    pids = sorted(end_rss)

    def mb(sample: dict[int, int]) -> str:
        return "/".join(f"{sample[p] / MB:.0f}" for p in pids)

    line = (
        f"soak_seconds={duration:.0f} senders={SENDERS} consumers={CONSUMERS} "
        f"events_acknowledged={end} events_per_s={end / duration:.0f} "
        f"requests={sum(s.requests for s in sent)} retried_503={sum(s.retries for s in sent)} "
        f"consumer_events={','.join(str(v[0]) for v in seen.values())} "
        f"consumer_reconnects={','.join(str(v[3].get('reconnects')) for v in seen.values())} "
        f"rss_mb_start={mb(start_rss)} rss_mb_end={mb(end_rss)} rss_mb_peak={mb(peak)} "
        f"({'/'.join(roles[p] for p in pids)})"
    )
    (tmp_path / "soak-summary.txt").write_text(line + "\n")
    print("\n" + line)
    return line


@pytest.mark.timeout(300)
def test_fifty_senders_and_five_consumers_for_twenty_seconds(tmp_path: Path) -> None:
    soak(tmp_path, 20.0)


@pytest.mark.slow
@pytest.mark.timeout(SLOW_SECONDS * 2 + 600)
def test_fifty_senders_and_five_consumers_for_a_long_while(tmp_path: Path) -> None:
    soak(tmp_path, SLOW_SECONDS)
