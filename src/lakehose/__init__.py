"""lakehose: collect events over HEC, keep them in a durable event lake, re-stream them."""

__version__ = "0.1.0"

__all__ = ["__version__"]
