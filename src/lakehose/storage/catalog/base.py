"""The catalog interface: one protocol per concept, and :class:`Catalog`, all of them.

The server, the CLI and the data-directory code hold a :class:`Catalog`; the SQLite
catalog (``storage/sqlite/catalog.py``) implements it, and a replicated catalog (JetStream
KV) can replace it. Its contract is ``tests/storage/test_catalog_contract.py``.
"""

from __future__ import annotations

from typing import Protocol

from lakehose.storage.catalog.clients import ClientCatalog
from lakehose.storage.catalog.connectors import ConnectorCatalog
from lakehose.storage.catalog.sessions import SessionCatalog
from lakehose.storage.refusals import RefusalCatalog


class SettingsCatalog(Protocol):
    """Small settings of the data directory, and a version that moves on every change."""

    readonly: bool  # opened never to write

    def close(self) -> None: ...

    def data_version(self) -> int:
        """Changes whenever another connection (another process, the CLI) commits."""
        ...

    def get_setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def set_setting_once(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` is set already; return the stored value."""
        ...


class Catalog(
    ConnectorCatalog, ClientCatalog, SessionCatalog, RefusalCatalog, SettingsCatalog, Protocol
):
    """Everything the rest of lakehose keeps in the catalog."""
