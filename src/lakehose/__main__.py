"""``python -m lakehose`` is the ``lakehose`` command."""

from lakehose.cli.main import main

main()
