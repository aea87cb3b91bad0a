"""The distributed backend: the log in JetStream streams, the catalog in JetStream KV."""
