"""Every collector YAML key is in the README, as a user would look it up."""

from __future__ import annotations

from pathlib import Path

from lakehose.collector.config import _COMMON, _SOURCE_KEYS, SOURCE_TYPES, TRANSFORM_TYPES

README = (Path(__file__).parent.parent.parent / "README.md").read_text()
SECTION = README[README.index("## Collector (`lakehose collect`)") :]


def test_every_source_type_and_key_is_documented() -> None:
    keys = {k for ks in _SOURCE_KEYS.values() for k in ks} | set(_COMMON)
    missing = [k for k in sorted(keys) if f"`{k}`" not in SECTION and f"{k}:" not in SECTION]
    missing += [t for t in SOURCE_TYPES if f"`{t}`" not in SECTION]
    missing += [t for t in TRANSFORM_TYPES if t not in SECTION]
    assert not missing, f"collector keys missing from the README: {missing}"


def test_top_level_keys_and_commands_are_documented() -> None:
    for key in (
        "dataDirectory",
        "logLevel",
        "status",
        "lakehose collect validate",
        "lakehose collect status",
    ):
        assert key in SECTION, key
