"""Falcon event streams: discovery, sessions, the resumable consumers."""
