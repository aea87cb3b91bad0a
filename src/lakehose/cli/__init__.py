"""The ``lakehose`` command line."""
