"""The failed-key lockout's arithmetic: limit, refill, IPv6 grouping and bounded memory."""

from __future__ import annotations

from lakehose.auth.lockout import Lockout, address_group


def test_the_limit_th_failure_locks_out_until_one_attempt_has_refilled() -> None:
    lockout = Lockout(limit=3, window=30.0)  # one attempt back every 10 s
    assert [lockout.failed("10.0.0.1", 0.0) for _ in range(3)] == [False, False, True]
    assert lockout.wait("10.0.0.1", 1.0) == 9.0
    assert lockout.wait("10.0.0.2", 1.0) == 0.0
    assert lockout.wait("10.0.0.1", 10.0) == 0.0
    assert lockout.failed("10.0.0.1", 10.0) is True  # one more guess, then locked again
    assert lockout.wait("10.0.0.1", 10.0) == 10.0


def test_a_limit_of_zero_never_locks_out() -> None:
    lockout = Lockout(limit=0, window=60.0)
    assert not any(lockout.failed("10.0.0.1", 0.0) for _ in range(1000))
    assert lockout.wait("10.0.0.1", 0.0) == 0.0


def test_ipv6_addresses_count_per_64_network() -> None:
    assert address_group("2001:db8:1:2::1") == address_group("2001:db8:1:2:ffff::9")
    assert address_group("2001:db8:1:2::1") != address_group("2001:db8:1:3::1")
    assert address_group("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_group("192.0.2.7") == "192.0.2.7"
    lockout = Lockout(limit=2, window=60.0)
    lockout.failed("2001:db8::1", 0.0)
    assert lockout.failed("2001:db8::2", 0.0) is True
    assert lockout.wait("2001:db8::3", 0.0) > 0


def test_many_addresses_do_not_grow_the_tables_beyond_their_bound() -> None:
    lockout = Lockout(limit=1, window=60.0, max_addresses=1000)
    for n in range(50_000):
        lockout.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", n / 1000)
    assert len(lockout) <= 1000
    assert len(lockout._locked) <= 1000
    # the most recent failures are the ones remembered
    assert lockout.wait("10.0.195.79", 49.999) > 0
