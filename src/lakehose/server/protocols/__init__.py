"""The connection level: HTTP parsing, transports, request bodies."""
