"""The columnar tier: older record batches rewritten as Parquet (zstd) files for fast search.

Theory of operation
-------------------
The row log (``storage/sqlite``) stays the source of truth: the data feed, stream
offsets and every query the columnar engine cannot run read it as before. A
background *compactor* (``compactor.py``) rewrites, per partition and ingest-time
slice, the batches older than ``columnar_after`` into one Parquet file each
(``layout.py`` says which columns), then records the file in the *manifest*
(``manifest.py``), a small SQLite database beside the partitions.

The compacted batches are kept in the row log until retention removes them, so
the tiers overlap: a file is a derived, rebuildable index of offsets
``[first_offset, end_offset)`` of its partition. Search (``search/tiers.py``) runs
a query on the files for the offsets below a partition's *boundary* (the end of
its last file) and on the row log above it, so every event is seen once.

Crash safety: a file is written under a temporary name, fsynced, renamed into
place and its directory fsynced, and only then added to the manifest in one
transaction that also checks it starts where the partition's last file ended.
Readers list files from the manifest only, so a half-written or unrecorded file
is never read; the next compaction deletes such leftovers and writes them again.
"""
