"""The SQLite catalog (``catalog.db``): every concept's store over one connection.

Each concept lives in its own module (``connectors.py``, ``clients.py``, ``sessions.py``),
all on :class:`~lakehose.storage.sqlite.store.CatalogStore`; this class joins them into
one :class:`~lakehose.storage.catalog.base.Catalog`.
"""

from __future__ import annotations

from lakehose.storage.sqlite.clients import SqliteClients
from lakehose.storage.sqlite.connectors import SqliteConnectors
from lakehose.storage.sqlite.refusals import SqliteRefusals
from lakehose.storage.sqlite.sessions import SqliteSessions


class SqliteCatalog(SqliteConnectors, SqliteClients, SqliteSessions, SqliteRefusals):
    """Access to ``catalog.db``. Thread-safe; every call is one short transaction."""
