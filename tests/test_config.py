"""Settings precedence: defaults < TOML file < LAKEHOSE_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehose.config import FIELDS, HELP, load_settings, parse_duration, parse_size
from lakehose.errors import ConfigError


def test_precedence_is_defaults_file_environment_flags(tmp_path: Path) -> None:
    toml = tmp_path / "lakehose.toml"
    toml.write_text('port = 9000\nworkers = 3\nretention_age = "7d"\nmax_body_bytes = "1MiB"\n')
    settings = load_settings(
        {"workers": 5},
        config_file=toml,
        environ={"LAKEHOSE_PORT": "9100", "LAKEHOSE_ACCESS_LOG": "off"},
    )
    assert (settings.port, settings.workers, settings.access_log) == (9100, 5, False)
    assert settings.retention_age == 7 * 86400 and settings.max_body_bytes == 1024 * 1024
    assert settings.host == "127.0.0.1"


def test_a_lakehose_table_in_the_file_is_read_too(tmp_path: Path) -> None:
    toml = tmp_path / "x.toml"
    toml.write_text("[lakehose]\nport = 1234\n")
    assert load_settings(config_file=toml, environ={}).port == 1234


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"workers": "0"}, "workers"),
        ({"port": "70000"}, "port"),
        ({"durability": "sometimes"}, "durability"),
        ({"max_body_bytes": "huge"}, "max_body_bytes"),
        ({"tls_cert": "a.pem"}, "tls_cert and tls_key"),
        ({"token_ttl": "60"}, "token_ttl"),
        ({"nope": "1"}, "unknown setting"),
        ({"trusted_proxies": "10.0.0.1, proxy.example"}, "trusted_proxies"),
        ({"trusted_proxies": "*"}, "trusted_proxies"),
        ({"max_header_bytes": "100"}, "max_header_bytes"),
        ({"header_timeout": "0"}, "header_timeout"),
        ({"max_connections": "0"}, "max_connections"),
        ({"hec_auth_fail_limit": "-1"}, "hec_auth_fail_limit"),
    ],
)
def test_bad_values_are_config_errors_that_name_the_setting(flags: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        load_settings(flags, environ={})


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    toml = tmp_path / "lakehose.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown settings"):
        load_settings(config_file=toml, environ={})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), ("250ms", 0.25)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10", 10),
        ("512k", 512000),
        ("10MiB", 10485760),
        ("10MB", 10**7),
        ("1GiB", 2**30),
        ("2kib", 2048),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_every_setting_has_help() -> None:
    assert set(HELP) == set(FIELDS)


def test_connection_limits_take_sizes_and_durations() -> None:
    settings = load_settings(
        {"max_header_bytes": "16KiB", "header_timeout": "500ms", "keep_alive_timeout": "2m"},
        environ={"LAKEHOSE_TRUSTED_PROXIES": "10.0.0.0/8, ::1"},
    )
    assert settings.max_header_bytes == 16 * 1024 and settings.header_timeout == 0.5
    assert settings.keep_alive_timeout == 120
    assert settings.proxy_list == ["10.0.0.0/8", "::1"]
    assert load_settings({"trusted_proxies": ""}, environ={}).proxy_list == []
