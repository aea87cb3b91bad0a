"""The embedded backend: the event log and the catalog in SQLite files."""
