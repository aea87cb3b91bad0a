"""lakehose's benchmark harness: measure HEC ingest honestly, against lakehose or any HEC server.

Run it as ``python -m bench SCENARIO`` (see ``bench/README.md``).
"""
