"""Each access-log line carries its own request id, also when requests overlap."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import orjson

from lakehose.testing import run_server
from tests.helpers import wait_for


def test_overlapping_requests_get_distinct_ids_in_the_access_log(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        body = b"".join(orjson.dumps({"event": {"n": n}}) for n in range(200))
        headers = {"Authorization": f"Splunk {server.api_key}"}

        def post() -> None:
            assert httpx.post(server.hec_url, content=body, headers=headers).status_code == 200

        threads = [threading.Thread(target=post) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pattern = re.compile(r'"message":"([0-9a-f]+-[0-9a-f]+) \S+ POST /services/collector ')
        wait_for(lambda: len(pattern.findall(server.logs())) == 20, timeout=60)
        ids = pattern.findall(server.logs())
    assert len(set(ids)) == 20, sorted(ids)
