"""Searching a lakehose over its API: ``Search`` (``_sync.py``)."""
