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


def test_the_bucket_arithmetic_exactly() -> None:
    lockout = Lockout(limit=4, window=40.0)  # one attempt back every 10 s
    assert [lockout.failed("a", 0.0) for _ in range(4)] == [False, False, False, True]
    assert lockout.wait("a", 2.5) == 7.5
    assert lockout.wait("a", 9.999) > 0
    assert lockout.wait("a", 10.0) == 0.0  # the lockout ends at its time exactly
    assert lockout.wait("a", 5.0) == 0.0  # and is forgotten once ended
    assert lockout.failed("a", 15.0) is True  # 1.5 tokens back, one taken: 0.5 is under one
    assert lockout.wait("a", 15.0) == 5.0  # until the half token left has grown to one
    assert lockout.failed("a", 30.0) is False  # 0.5 + 1.5 - 1 = 1: one more guess allowed
    assert lockout.wait("a", 30.0) == 0.0
    assert lockout.failed("a", 30.0) is True
    assert lockout.wait("a", 30.0) == 10.0


def test_a_long_pause_refills_the_bucket_to_the_limit_and_no_further() -> None:
    lockout = Lockout(limit=3, window=30.0)
    lockout.failed("a", 0.0)
    assert [lockout.failed("a", 1000.0) for _ in range(3)] == [False, False, True]


def test_a_window_of_zero_with_no_limit_is_allowed() -> None:
    lockout = Lockout(limit=0, window=0.0)
    assert lockout.failed("a", 0.0) is False and len(lockout) == 0


def test_another_workers_lock_is_taken_only_when_it_ends_later() -> None:
    lockout = Lockout(limit=5, window=60.0)
    assert lockout.wait("a", 0.0) == 0.0
    lockout.lock("a", 5.0)
    assert lockout.wait("a", 1.0) == 4.0
    lockout.lock("a", 3.0)
    assert lockout.wait("a", 1.0) == 4.0
    lockout.lock("a", 8.0)
    assert lockout.wait("a", 1.0) == 7.0
    assert lockout.wait("b", 1.0) == 0.0


def test_locks_from_other_workers_are_bounded_too() -> None:
    lockout = Lockout(limit=5, window=60.0, max_addresses=4)
    for n in range(10):
        lockout.lock(f"10.0.0.{n}", 100.0 + n)
    assert len(lockout._locked) <= 4


def test_refilled_buckets_are_forgotten_first_then_the_oldest() -> None:
    lockout = Lockout(limit=2, window=10.0, max_addresses=4)
    for name in "abcd":
        lockout.failed(name, 0.0)
    lockout.failed("e", 100.0)  # a to d have refilled by now
    assert len(lockout) == 1
    slow = Lockout(limit=2, window=1000.0, max_addresses=4)
    for t, name in enumerate("abcde"):
        slow.failed(name, float(t))
    assert len(slow) == 2  # down to half the bound: d and e kept
    assert slow.failed("d", 5.0) is True  # d's bucket was kept
    assert slow.failed("a", 5.0) is False  # a's was dropped: a full bucket again


def test_an_address_that_is_not_ip_is_its_own_group() -> None:
    assert address_group("not:an:address") == "not:an:address"
    assert address_group("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_group("localhost") == "localhost"


def test_the_default_bound_and_a_window_of_one_second() -> None:
    assert Lockout(limit=3, window=60.0).max_addresses == 65536
    lockout = Lockout(limit=2, window=1.0)
    assert [lockout.failed("a", 0.0), lockout.failed("a", 0.0)] == [False, True]
    assert lockout.wait("a", 0.0) == 0.5


def test_locks_from_other_workers_up_to_the_bound_are_all_kept() -> None:
    lockout = Lockout(limit=5, window=60.0, max_addresses=4)
    for n in range(4):
        lockout.lock(f"g{n}", 100.0 + n)
    assert [lockout.wait(f"g{n}", 0.0) for n in range(4)] == [100.0, 101.0, 102.0, 103.0]


def test_failures_up_to_the_bound_keep_every_lockout() -> None:
    lockout = Lockout(limit=1, window=1000.0, max_addresses=4)
    for t, name in enumerate("abcd"):
        assert lockout.failed(name, float(t)) is True
    assert lockout.wait("a", 3.0) == 997.0


def test_ended_lockouts_are_forgotten_before_the_oldest_active_one() -> None:
    lockout = Lockout(limit=1, window=10.0, max_addresses=4)
    lockout.lock("a", 1000.0)  # the oldest entry, and still active at t=100
    for name in "bcd":
        lockout.lock(name, 10.0)
    lockout.failed("e", 100.0)  # five lockouts: b, c and d have ended
    assert lockout.wait("a", 100.0) == 900.0


def test_the_oldest_lockout_goes_when_one_more_than_half_the_bound_is_left() -> None:
    lockout = Lockout(limit=1, window=10.0, max_addresses=4)
    lockout.lock("x", 10.0)
    lockout.lock("y", 10.0)
    lockout.lock("a", 1000.0)
    lockout.failed("c", 100.0)
    lockout.failed("d", 100.0)  # x and y have ended; a, c, d are one more than 4 // 2
    assert lockout.wait("a", 100.0) == 0.0
    assert lockout.wait("d", 100.0) == 10.0


def test_a_bucket_refilled_exactly_to_the_limit_counts_as_full() -> None:
    lockout = Lockout(limit=2, window=10.0, max_addresses=4)  # 0.2 attempts back per second
    for name in "bcd":
        lockout.failed(name, 0.0)
        lockout.failed(name, 0.0)  # empty
    lockout.failed("a", 0.0)  # one token left: full again at t=5 exactly
    lockout.failed("e", 5.0)  # five buckets: a is full and forgotten; then b and c go
    assert lockout.failed("d", 5.0) is True  # d's bucket was kept (one token back, now taken)


def test_a_lockout_ending_exactly_now_has_ended() -> None:
    lockout = Lockout(limit=1, window=10.0, max_addresses=4)
    lockout.lock("a", 1000.0)
    for name in "bcx":
        lockout.lock(name, 100.0)
    lockout.failed("d", 100.0)  # five lockouts; b, c and x end at 100 exactly: forgotten
    assert lockout.wait("a", 100.0) == 900.0
