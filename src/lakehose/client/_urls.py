"""Where a HEC sender posts: NG-SIEM's regional ingest hosts, or any HEC's base URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from lakehose.errors import ConfigError

# FalconPy's IngestBaseURL, keyed by region name without dashes (``us-1`` is accepted too).
INGEST_BASE_URLS: dict[str, str] = {
    "us1": "ingest.us-1.crowdstrike.com",
    "us2": "ingest.us-2.crowdstrike.com",
    "us3": "ingest.us-3.crowdstrike.com",
    "eu1": "ingest.eu-1.crowdstrike.com",
    "usgov1": "ingest.laggar.gcw.crowdstrike.com",
    "usgov2": "ingest.us-gov-2.crowdstrike.mil",
}

# FalconPy's IngestFormat: the Content-Type header each ``ingest_format`` sends.
FORMAT_TYPES: dict[str, str] = {
    "json": "application/json",
    "yaml": "application/x-yaml",
    "xml": "text/xml",
    "csv": "text/csv",
}

_EVENT_SUFFIXES = ("/services/collector/event/1.0", "/services/collector/event")
_COLLECTOR_SUFFIXES = ("/services/collector", "/api/v1/ingest/hec")


def region_host(region: str) -> str:
    """The ingest host of an NG-SIEM region (``us1``, ``us-2``, ``EU1`` ...)."""
    key = region.replace("-", "").replace("_", "").lower()
    try:
        return INGEST_BASE_URLS[key]
    except KeyError:
        known = ", ".join(INGEST_BASE_URLS)
        raise ConfigError(f"unknown ingest_region {region!r}; known: {known}") from None


def format_type(ingest_format: str) -> str:
    """The Content-Type for an ``ingest_format`` name; a MIME type passes through unchanged."""
    if "/" in ingest_format:
        return ingest_format
    try:
        return FORMAT_TYPES[ingest_format.lower()]
    except KeyError:
        known = ", ".join(FORMAT_TYPES)
        raise ConfigError(f"unknown ingest_format {ingest_format!r}; known: {known}") from None


def format_name(content_type: str) -> str | None:
    """``application/json`` -> ``JSON`` (FalconPy's ``ingest_format_name``)."""
    for name, mime in FORMAT_TYPES.items():
        if mime == content_type:
            return name.upper()
    return None


def ingest_urls(base_url: str) -> tuple[str, str]:
    """The event and raw URLs of a HEC at ``base_url``.

    A server root (``http://127.0.0.1:8088``) gets ``/services/collector`` and
    ``/services/collector/raw``. A URL that already names the event endpoint keeps it:
    ``.../services/collector`` and LogScale's ``.../api/v1/ingest/hec`` add ``/raw``;
    ``.../services/collector/event`` (SentinelOne SDL's form) pairs with
    ``.../services/collector/raw``.
    """
    if "://" not in base_url:
        raise ConfigError(f"base_url {base_url!r} needs a scheme (http:// or https://)")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url {base_url!r} is not an http(s) URL")
    path = parts.path.rstrip("/")

    def url(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, parts.query, ""))

    for suffix in _EVENT_SUFFIXES:
        if path.endswith(suffix):
            root = path[: -len(suffix)]
            raw_suffix = "/services/collector/raw" + ("/1.0" if suffix.endswith("1.0") else "")
            return url(path), url(root + raw_suffix)
    for suffix in _COLLECTOR_SUFFIXES:
        if path.endswith(suffix):
            return url(path), url(path + "/raw")
    return url(path + "/services/collector"), url(path + "/services/collector/raw")
