"""The server: HTTP endpoints, worker runtime and process supervision."""
