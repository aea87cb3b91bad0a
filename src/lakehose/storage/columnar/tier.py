"""A reader's handle on the columnar tier: the manifest's files, their tokens, DuckDB to query them.

Search (``search/tiers.py``) takes one :meth:`ColumnarTier.files` snapshot per query
and runs SQL over those files only; files added later are above its boundaries and
files retention removes meanwhile make the query fail, and search then falls back
to the row log.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from lakehose.errors import SearchTimeoutError, StorageError
from lakehose.storage.columnar.compactor import manifest_path, tier_dir
from lakehose.storage.columnar.manifest import ColumnarFile, Manifest

_TOKEN_CACHE = 512  # token dictionaries kept per process
_local = threading.local()  # one DuckDB connection per thread: connecting costs ~15 ms


def _duck() -> Any:
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads = 1")
        con.execute("SET enable_progress_bar = false")
        _local.con = con
    return con


class ColumnarTier:
    """Open with :func:`open_tier`; use from one thread; ``close()`` when done."""

    # per process: (tier, file name, size) -> token text; a process may open several lakes
    _tokens: dict[tuple[str, str, int], tuple[bytes | None, dict[str, bytes] | None]] = {}

    def __init__(self, data_dir: Path) -> None:
        self.root = tier_dir(data_dir)
        self._manifest = Manifest(manifest_path(data_dir), readonly=True)

    def close(self) -> None:
        self._manifest.close()

    def files(self) -> list[ColumnarFile]:
        return self._manifest.files()

    def path(self, f: ColumnarFile) -> str:
        return str(self.root / f.name)

    def token_text(self, f: ColumnarFile) -> bytes | None:
        """The file's token dictionary (newline-joined), None when it keeps none."""
        return self._token_texts(f)[0]

    def column_tokens(self, f: ColumnarFile) -> dict[str, bytes] | None:
        """A ``REBUILT`` file's tokens per text column (and ``tpl``); None: not kept."""
        return self._token_texts(f)[1]

    def _token_texts(self, f: ColumnarFile) -> tuple[bytes | None, dict[str, bytes] | None]:
        cache = ColumnarTier._tokens
        key = (str(self.root), f.name, f.size)
        if key in cache:
            return cache[key]
        found = [x for x in self._manifest.files(f.partition, tokens=True) if x.name == f.name]
        texts = (found[0].token_text(), found[0].column_token_texts()) if found else (None, None)
        if len(cache) >= _TOKEN_CACHE:
            cache.clear()
        cache[key] = texts
        return texts

    def execute(
        self,
        sql: str,
        params: list[Any] | None = None,
        *,
        deadline: float | None = None,
        limit: float = 0.0,
    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on an in-memory DuckDB (one thread); StorageError on failure.

        At ``deadline`` (``time.monotonic()``) the connection is interrupted and
        SearchTimeoutError(``limit``) raised: ``search_timeout`` holds inside DuckDB too,
        and the connection stays usable for the next query.
        """
        import duckdb

        con = _duck()
        timer: threading.Timer | None = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SearchTimeoutError(limit)
            timer = threading.Timer(left, con.interrupt)
            timer.daemon = True
            timer.start()
        try:
            rows: list[tuple[Any, ...]] = con.execute(sql, params or []).fetchall()
        except duckdb.InterruptException:
            raise SearchTimeoutError(limit) from None
        except duckdb.Error as exc:
            raise StorageError(f"columnar query failed: {exc}") from exc
        finally:
            if timer is not None:
                timer.cancel()
        if deadline is not None and time.monotonic() > deadline:
            raise SearchTimeoutError(limit)  # the interrupt came as the query ended
        return rows


def open_tier(data_dir: Path) -> ColumnarTier | None:
    """The tier of ``data_dir``, or None when nothing was ever compacted there."""
    if not manifest_path(data_dir).exists():
        return None
    return ColumnarTier(data_dir)
