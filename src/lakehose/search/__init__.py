"""The search engine: runs a planned query over any event log's batches."""
