"""Credentials: HEC API keys, API client secrets, OAuth2 tokens and their scopes."""
