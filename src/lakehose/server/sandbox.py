"""The fault sandbox (``lakehose serve --sandbox``): faults injected on purpose, for integration tests.

Theory of operation
-------------------
Off by default; ``--sandbox`` is refused unless the server listens on loopback
(``config.py``). Faults are rows of ``sandbox_faults`` in the catalog, armed by the
admin API (``/api/v1/sandbox``) or by ``lakehose sandbox`` on the data directory,
so every worker sees them: a worker re-reads the table when the catalog's
``data_version`` moves. A fault is armed for the next ``count`` requests it applies
to, or for ``duration`` seconds. Taking one is an atomic ``UPDATE ... remaining - 1``
in the catalog, so ``count=2`` fires exactly twice whichever workers serve the
requests. Each injection is logged (warning) and counted, per fault, in the row's
``fired`` and in ``lakehose_sandbox_faults_total``.

The sandbox clock shifts the ingest time of new batches (``offset_seconds``, a
setting in the catalog), so a test can build a lake whose batches span days; it is
for tests only and applies only with ``--sandbox``.

With the sandbox off, nothing here runs: :meth:`Sandbox.take` returns None at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from lakehose.config import Settings
from lakehose.server.metrics import Metrics
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.faults import Fault
from lakehose.storage.lake import open_faults

log = logging.getLogger(__name__)


class _NoFaults:
    """The table of a server without the sandbox (on a cluster there is none to open)."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the fault sandbox is off ({name})")


_NO_FAULTS: Any = _NoFaults()


# fault -> what it does (the admin API, the CLI and the README list these)
HEC_FAULTS = ("hec_busy", "hec_throttle", "hec_error", "hec_delay", "hec_close_before_commit")


class Sandbox:
    """One worker's view of the armed faults."""

    def __init__(self, settings: Settings, catalog: Catalog, metrics: Metrics) -> None:
        self.enabled = settings.sandbox
        self.settings = settings
        self.catalog = catalog
        self.table = open_faults(catalog) if self.enabled else _NO_FAULTS
        self.metrics = metrics
        self._version = -1
        self._armed: list[Fault] = []
        self._clock_ns = 0

    def clock(self) -> int:
        """Now, in ns, as the log stamps ingest times (shifted by the sandbox clock)."""
        return time.time_ns() + self._clock_ns

    def refresh(self, force: bool = False) -> None:
        """Re-read the faults and the clock when the catalog changed."""
        if not self.enabled:
            return
        version = self.catalog.data_version()
        if version == self._version and not force:
            return
        self._version = version
        now = time.time()
        self._armed = [f for f in self.table.list() if f.live(now)]
        self._clock_ns = int(self.table.clock_offset() * 1e9)

    def take(self, *faults: str) -> Fault | None:
        """The first armed fault of these kinds, fired now (logged, counted); None if none."""
        if not self.enabled:
            return None
        self.refresh()
        now = time.time()
        for fault in self._armed:
            if fault.fault in faults and fault.live(now) and self.table.take(fault.id):
                self.fired(fault.fault, fault.params)
                self._version = -1  # the row changed: read it again next time
                return fault
        return None

    def fired(self, fault: str, params: dict[str, Any]) -> None:
        self.metrics.sandbox_fault(fault)
        log.warning("sandbox: injected fault %s %s", fault, orjson.dumps(params).decode())
