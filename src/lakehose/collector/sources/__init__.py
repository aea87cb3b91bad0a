"""Collector sources: each reads events and puts them, in order, to its sink's delivery."""
