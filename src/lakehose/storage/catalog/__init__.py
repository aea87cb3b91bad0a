"""The catalog's interface and data: connectors and keys, API clients and tokens, stream sessions.

The SQLite implementation is ``storage/sqlite/catalog.py``; a replicated one implements the
same :class:`~lakehose.storage.catalog.base.Catalog` protocol.
"""
