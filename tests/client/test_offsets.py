"""Which offsets a consumer commits: processed events, the one in flight, auto-commit timing."""

from __future__ import annotations

from lakehose.client.streams.offsets import Offsets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_event_handed_out_is_in_flight_until_the_caller_comes_back() -> None:
    offsets = Offsets({})
    offsets.deliver(0, 5)
    assert offsets.pending(include_in_flight=False) is None
    assert offsets.pending(include_in_flight=True) == {0: 5}
    offsets.came_back()
    assert offsets.pending(include_in_flight=False) == {0: 5}


def test_handing_out_the_next_event_processes_the_previous_one_on_any_partition() -> None:
    offsets = Offsets({1: 9})
    offsets.deliver(0, 5)
    offsets.deliver(1, 10)
    assert offsets.pending(include_in_flight=False) == {0: 5, 1: 9}
    assert offsets.delivered() == {0: 5, 1: 10}


def test_committing_keeps_partitions_the_checkpoint_knew() -> None:
    offsets = Offsets({0: 3, 7: 70})
    offsets.deliver(0, 4)
    pending = offsets.pending(include_in_flight=True)
    assert pending == {0: 4, 7: 70}
    offsets.committed_as(pending)
    assert offsets.pending(include_in_flight=True) is None


def test_auto_commit_is_due_after_every_n_processed_events() -> None:
    offsets = Offsets({}, every=3, interval=None)
    for n in range(3):
        offsets.deliver(0, n)
    offsets.came_back()
    assert offsets.due()
    offsets.committed_as(offsets.pending(include_in_flight=False) or {})
    assert offsets.committed == {0: 2}
    assert not offsets.due()


def test_auto_commit_is_due_after_the_interval_and_only_with_something_to_save() -> None:
    clock = Clock()
    offsets = Offsets({}, every=None, interval=5.0, clock=clock)
    clock.now += 10
    assert not offsets.due()
    assert offsets.seconds_until_due() is None
    offsets.deliver(0, 1)
    offsets.came_back()
    assert offsets.due()
    offsets.committed_as({0: 1})
    offsets.deliver(0, 2)
    offsets.came_back()
    assert not offsets.due()
    assert offsets.seconds_until_due() == 5.0
    clock.now += 5
    assert offsets.due()
