"""Fuzzed Falcon stream parameters (appId, offset, whence, eventType, format, partition, Host),
with no server: each gives a value in its documented range or a ValueError with a message.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.server.routes import stream_params as sp
from tests.fuzz.budgetkit import VARIANTS, fuzz_settings, tried

texts = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.from_regex(r"\A\s*[+-]?\d{1,30}\s*\Z"),
    st.from_regex(r"\A[A-Za-z0-9._-]{0,40}\Z"),
    st.sampled_from(["9223372036854775807", "9223372036854775808", "0" * 400, "1e3", "0x10"]),
    st.sampled_from(["\u0661\u0662", "\u00b2", "\x00", " 2 ", "2\n", "json\x00", "FLATJSON"]),
)
APP_ID = re.compile(r"^[a-z0-9._-]{1,32}$")
URL = re.compile(r"^https?://[A-Za-z0-9.:\[\]-]+$")


@pytest.mark.parametrize("variant", VARIANTS)
def test_stream_parameters_are_in_range_or_a_value_error(variant: str) -> None:
    @fuzz_settings(variant, 500)
    @given(texts, st.integers(1, 64))
    def run(text: str | None, partitions: int) -> None:
        tried("streams/params")
        try:
            app = sp.app_id(text)
            assert APP_ID.match(app) and app == sp.app_id(app)
        except ValueError as exc:
            assert str(exc)
        try:
            offset = sp.offset(text)
            assert 0 <= offset <= sp.MAX_OFFSET and sp.offset(str(offset)) == offset
        except ValueError as exc:
            assert str(exc)
        try:
            assert sp.whence(text) in (sp.WHENCE_OFFSET, sp.WHENCE_END)
        except ValueError as exc:
            assert str(exc)
        try:
            assert sp.feed_format(text) in sp.FORMATS
        except ValueError as exc:
            assert str(exc)
        types = sp.event_types(text)
        assert types is None or (types and all(t and t == t.strip() for t in types))
        p = sp.partition(text or "", partitions)
        assert p is None or 0 <= p < partitions
        try:
            base = sp.origin(None, "http", text, "127.0.0.1:8088")
            assert URL.match(base), base  # no CR, LF or space can reach a URL we hand out
        except ValueError as exc:
            assert str(exc)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_feed_queries_parse_whole_or_raise_a_value_error(variant: str) -> None:
    keys = st.sampled_from(["appId", "offset", "whence", "eventType", "format", "other"])

    @fuzz_settings(variant, 300)
    @given(st.dictionaries(keys, texts.map(lambda t: t or ""), max_size=6))
    def run(params: dict[str, str]) -> None:
        tried("streams/feed-query")
        try:
            query = sp.feed_query(params)
        except ValueError as exc:
            assert str(exc)
            return
        assert query.app_id is None or APP_ID.match(query.app_id)
        assert 0 <= query.offset <= sp.MAX_OFFSET and query.format in sp.FORMATS

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_offsets_written_any_way_read_back_exactly(variant: str) -> None:
    @fuzz_settings(variant, 300)
    @given(st.integers(0, sp.MAX_OFFSET), st.sampled_from(["", " ", "\t", "0", "00"]))
    def run(offset: int, pad: str) -> None:
        tried("streams/offset-exact")
        text = pad.strip() + str(offset) if pad.strip() else f"{pad}{offset}{pad}"
        assert sp.offset(text) == offset

    run()
