"""The HEC sender: ``HEC`` and ``AsyncHEC``."""
