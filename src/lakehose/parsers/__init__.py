"""Wire formats and event parsers: plain functions from bytes to events, no I/O."""
