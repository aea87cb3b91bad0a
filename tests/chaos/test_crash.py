"""SIGKILL mid-load, cycle after cycle: nothing acknowledged is lost or stored twice, and stream
consumers resume without gaps.

Each cycle runs, against a 2-worker server: two HEC senders without acks (new ones each cycle,
batches of 1, 10 or 50 events, one of them gzip), two senders on channels of an ack connector
(the same channels throughout, polling ``/services/collector/ack``), a ``StreamConsumer`` in
this process (file checkpoint; it lives through the crashes, and is closed and reopened from
its checkpoint at a random moment of each cycle) and a ``lakehose stream --resume`` process.
At a random moment once every sender has had a 200, the server and the ``lakehose stream``
process are SIGKILLed together; the server restarts on the same data directory.

Asserted after every restart, precisely:

1. The lake, read from its files: per partition, offsets dense from 0, every batch decodes
   (zstd checksum and line count), ``next_offset`` is the end of the last batch.
2. Every acknowledged event is stored exactly once. Acknowledged: a request without acks
   answered 200 code 0, or a request whose ackId ``/ack`` answered true. No event at all is
   stored twice (senders never resend, so a repeat could only be the server's).
3. Acks survive the crash: every ackId handed out in a 200 is answered true after the
   restart, unless a poll that named it lost its answer in the crash (the server may have
   reported it true, and forgotten it, as Splunk does). Ack ids on a channel are never reused.
4. The ``StreamConsumer`` handed out every offset exactly once, in order, each with the event
   the lake holds there: exactly once across server crashes and its own clean restarts.
5. ``lakehose stream`` (at least once): each run started right after the offset its
   checkpoint held and read on densely; the checkpoint never passed the last line printed
   (so no offset is ever skipped); a run repeats only lines its killed predecessor printed
   after its last commit, at most 1,000 (the CLI commits every 1,000 lines or second).

At the end, the server has logged no error.

What SIGKILL does not test: the kernel keeps what the process wrote, so a killed server
loses nothing that reached ``write()``; fsync and torn writes are ``test_torn_wal.py``'s.
This test covers the server's side: answering only after the commit, recovery, offsets
handed out by one sequencer across workers, acks kept across restarts.

The fast variant (3 cycles) runs in ``make test``; ``make chaos`` runs
``LAKEHOSE_CHAOS_CYCLES`` (25) cycles over two partitions. ``LAKEHOSE_CHAOS_SEED`` changes
the random choices.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lakehose.testing import run_server
from tests.chaos.chaoskit import (
    AckSender,
    CliConsumer,
    PlainSender,
    SdkConsumer,
    read_lake,
    summary,
    wait_caught_up,
)
from tests.client.consumerkit import api_client
from tests.helpers import bearer_token, create_connector, wait_for

CYCLES = int(os.environ.get("LAKEHOSE_CHAOS_CYCLES", "25"))


def check_lake(data_dir: Path, acked: set[str]) -> dict[int, list[str]]:
    lake = read_lake(data_dir)
    counts = Counter(x for ids in lake.values() for x in ids)
    duplicated = [x for x, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} events stored twice, e.g. {duplicated[:3]}"
    missing = acked - counts.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    return lake


def crash_cycles(tmp_path: Path, cycles: int, partitions: int) -> str:
    rng = random.Random(os.environ.get("LAKEHOSE_CHAOS_SEED", "lakehose"))
    data_dir = tmp_path / "data"
    acked: set[str] = set()
    args = ["--partitions", str(partitions), "--heartbeat-interval", "1"]
    with run_server(data_dir, workers=2, args=args) as server:
        with httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {bearer_token(server, 'admin')}"},
        ) as admin:
            ack_key = create_connector(admin, "acked", use_ack=True)
        credentials = api_client(server)
        ack_senders = [AckSender(f"a{i}", ack_key, batch=rng.choice([1, 10, 50])) for i in (0, 1)]
        sdk = SdkConsumer(server, credentials, tmp_path / "sdk.offsets.json")
        cli = CliConsumer(server, credentials, tmp_path)
        sdk.start()
        cli.start()
        plain: list[PlainSender] = []
        for cycle in range(cycles):
            fresh = [
                PlainSender(f"c{cycle}p{i}", batch=rng.choice([1, 10, 50]), compress=i == 1)
                for i in (0, 1)
            ]
            plain += fresh
            senders: list[PlainSender | AckSender] = [*fresh, *ack_senders]
            stop = threading.Event()
            threads = [threading.Thread(target=s.run, args=(server, stop)) for s in senders]
            before = [s.replies for s in senders]
            for t in threads:
                t.start()
            # once load flows (every sender has had a 200), restart the SDK consumer at one
            # random moment and crash everything at another
            pairs = list(zip(senders, before, strict=True))
            wait_for(lambda pairs=pairs: all(s.replies > n for s, n in pairs), timeout=60)
            moments = sorted([rng.uniform(0.0, 1.5), rng.uniform(0.0, 1.5)])
            time.sleep(moments[0])
            sdk.stop()
            sdk.start()
            time.sleep(moments[1] - moments[0])
            server.kill()
            cli.kill()
            stop.set()
            for t in threads:
                t.join(15)
            server.restart()
            for a in ack_senders:
                a.settle(server)
            for s in senders:
                assert not s.unexpected, s.unexpected[:3]
            acked = {x for s in [*plain, *ack_senders] for x in s.acked}
            lake = check_lake(data_dir, acked)
            cli.start()
            wait_caught_up(sdk, cli, lake)
            sdk.check(lake)
            cli.check(lake)
        sdk.stop()
        assert cli.stop() == 0
        lake = check_lake(data_dir, acked)
        consumed = sdk.check(lake)
        cli.check(lake)
        stored = sum(len(ids) for ids in lake.values())
        assert consumed == stored
        errors = [x for x in server.logs().splitlines() if '"level":"error"' in x]
        assert not errors and "Traceback" not in server.logs(), errors[:3]
    line = summary(
        chaos_cycles=cycles,
        partitions=partitions,
        events_stored=stored,
        acknowledged_verified=len(acked),
        acked_via_ack_endpoint=sum(len(a.acked) for a in ack_senders),
        ack_outcome_lost_in_crash=sum(a.unknown for a in ack_senders),
        sdk_consumer_events=consumed,
        sdk_consumer_runs=sdk.runs,
        cli_consumer_lines=cli.printed,
        cli_consumer_repeats=cli.repeated,
        cli_consumer_runs=len(cli.runs),
    )
    (tmp_path / "chaos-summary.txt").write_text(line + "\n")
    print("\n" + line)
    return line


def test_sigkill_mid_load_loses_and_duplicates_nothing_acknowledged(tmp_path: Path) -> None:
    crash_cycles(tmp_path, cycles=3, partitions=1)


@pytest.mark.slow
@pytest.mark.timeout(CYCLES * 60 + 300)
def test_many_sigkill_cycles(tmp_path: Path) -> None:
    crash_cycles(tmp_path, cycles=CYCLES, partitions=2)
