"""Storage: the event log (record batches per partition) and the catalog."""
