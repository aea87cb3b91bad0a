"""The retry policy: which answers are retried, and how long to wait."""

from __future__ import annotations

import pytest

from lakehose.client._retry import RetryPolicy, backoff_delay, parse_retry_after, should_retry


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_busy_and_gateway_answers_are_retried(status: int) -> None:
    assert should_retry(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 413, 415, 500, 501])
def test_verdicts_on_data_key_or_body_are_final(status: int) -> None:
    assert not should_retry(status)


def test_transport_failures_are_retried_only_when_transient() -> None:
    assert should_retry(None, transient_error=True)
    assert not should_retry(None, transient_error=False)


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(retries=10, base=0.5, cap=4.0)
    assert backoff_delay(1, None, policy, rand=lambda: 0.0) == 0.25
    assert backoff_delay(1, None, policy, rand=lambda: 1.0) == 0.5
    assert backoff_delay(3, None, policy, rand=lambda: 0.0) == 1.0
    assert backoff_delay(3, None, policy, rand=lambda: 1.0) == 2.0
    assert backoff_delay(9, None, policy, rand=lambda: 1.0) == 4.0


def test_retry_after_is_honoured_with_a_little_jitter() -> None:
    policy = RetryPolicy(base=0.1, cap=0.2, max_retry_after=60)
    assert backoff_delay(1, 5.0, policy, rand=lambda: 0.0) == 5.0
    assert backoff_delay(1, 5.0, policy, rand=lambda: 1.0) == pytest.approx(5.5)
    assert backoff_delay(1, 3600.0, policy, rand=lambda: 0.0) == 60
