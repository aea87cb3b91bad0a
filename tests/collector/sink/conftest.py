"""The scripted HEC of the SDK tests (a real HTTP server answering from a script)."""

from tests.client.conftest import ScriptedHEC, scripted

__all__ = ["ScriptedHEC", "scripted"]
