"""Where a HEC sender posts."""

from __future__ import annotations

import pytest

from lakehose.client import HEC
from lakehose.client._urls import ingest_urls, region_host
from lakehose.errors import ConfigError


@pytest.mark.parametrize(
    ("base", "event", "raw"),
    [
        (
            "http://127.0.0.1:8088",
            "http://127.0.0.1:8088/services/collector",
            "http://127.0.0.1:8088/services/collector/raw",
        ),
        (
            "https://h:8088/",
            "https://h:8088/services/collector",
            "https://h:8088/services/collector/raw",
        ),
        (
            "https://splunk:8088/services/collector",
            "https://splunk:8088/services/collector",
            "https://splunk:8088/services/collector/raw",
        ),
        (
            "https://ingest.us1.sentinelone.net/services/collector/event",
            "https://ingest.us1.sentinelone.net/services/collector/event",
            "https://ingest.us1.sentinelone.net/services/collector/raw",
        ),
        (
            "https://cloud.example/api/v1/ingest/hec",
            "https://cloud.example/api/v1/ingest/hec",
            "https://cloud.example/api/v1/ingest/hec/raw",
        ),
        (
            "http://proxy/prefix",
            "http://proxy/prefix/services/collector",
            "http://proxy/prefix/services/collector/raw",
        ),
    ],
)
def test_ingest_urls_from_a_base_url(base: str, event: str, raw: str) -> None:
    assert ingest_urls(base) == (event, raw)


@pytest.mark.parametrize("bad", ["127.0.0.1:8088", "ftp://x", "http://"])
def test_a_base_url_without_an_http_scheme_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        ingest_urls(bad)


def test_ngsiem_urls_are_falconpys() -> None:
    with HEC("key", "abc123", ingest_region="eu1") as hec:
        assert hec.ingest_url == "https://abc123.ingest.eu-1.crowdstrike.com/services/collector"
        assert hec.raw_ingest_url == hec.ingest_url + "/raw"
        assert hec.ingest_base_url == "ingest.eu-1.crowdstrike.com"
        hec.ingest_region = "usgov2"
        assert hec.ingest_url == "https://abc123.ingest.us-gov-2.crowdstrike.mil/services/collector"


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us1", "ingest.us-1.crowdstrike.com"),
        ("us-2", "ingest.us-2.crowdstrike.com"),
        ("EU1", "ingest.eu-1.crowdstrike.com"),
        ("usgov1", "ingest.laggar.gcw.crowdstrike.com"),
        ("usgov2", "ingest.us-gov-2.crowdstrike.mil"),
    ],
)
def test_regions_map_to_ngsiem_ingest_hosts(region: str, host: str) -> None:
    assert region_host(region) == host


def test_an_unknown_region_fails_at_construction_not_at_send() -> None:
    with pytest.raises(ConfigError, match="unknown ingest_region"):
        HEC("key", "abc", ingest_region="mars1")


def test_a_url_as_api_url_key_is_a_base_url() -> None:
    with HEC("key", "http://127.0.0.1:9/") as hec:
        assert hec.base_url == "http://127.0.0.1:9/"
        assert hec.ingest_url == "http://127.0.0.1:9/services/collector"


def test_headers_and_format_properties_are_falconpys() -> None:
    with HEC("k3y", base_url="http://h", ingest_format="yaml") as hec:
        assert hec.hec_headers == {
            "Authorization": "Bearer k3y",
            "Content-Type": "application/x-yaml",
        }
        assert hec.ingest_format == "application/x-yaml"
        assert hec.ingest_format_name == "YAML"
        hec.ingest_format = "csv"
        assert hec.hec_headers["Content-Type"] == "text/csv"
    with HEC("k3y", base_url="http://h", auth_scheme="Splunk") as hec:
        assert hec.hec_headers["Authorization"] == "Splunk k3y"


def test_thread_count_defaults_like_falconpys_and_is_capped() -> None:
    import os

    with HEC("k", base_url="http://h") as hec:
        assert hec.thread_count == min((os.cpu_count() or 1) * 2, 50)
        hec.thread_count = 10_000
        assert hec.thread_count == 500
