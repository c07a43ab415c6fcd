"""LatestSlot: newest item wins, replaced items are counted, nothing queues."""

from __future__ import annotations

import threading
import time

from fastdepth_ros.latest import LatestSlot


def test_put_replaces_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert len(slot) == 1
    assert slot.take(0) == 3
    assert slot.dropped_count == 2 and slot.put_count == 3 and slot.taken_count == 1
    assert slot.take(0) is None


def test_take_times_out_when_empty() -> None:
    slot: LatestSlot[int] = LatestSlot()
    start = time.monotonic()
    assert slot.take(0.05) is None
    assert time.monotonic() - start >= 0.04


class _SignallingCondition(threading.Condition):
    """A Condition that says when a thread starts waiting on it (no sleeps in the tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout=None):  # type: ignore[override]
        self.waiting.set()
        return super().wait(timeout)


def _blocked_taker(slot: LatestSlot, got: list) -> threading.Thread:
    """A thread blocked in ``slot.take``: returns once it waits on the slot's condition."""
    cond = _SignallingCondition()
    slot._cond = cond  # test hook: LatestSlot's only synchronisation object
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    assert cond.waiting.wait(5.0), "take() did not block on an empty slot"
    return t


def test_take_wakes_on_put_from_other_thread() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got: list = []
    t = _blocked_taker(slot, got)
    slot.put("frame")
    t.join(2.0)
    assert got == ["frame"]


def test_close_wakes_waiter_and_rejects_later_takes() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got: list = []
    t = _blocked_taker(slot, got)
    slot.close()
    t.join(2.0)
    assert not t.is_alive() and got == [None]
    slot.put(1)
    assert slot.take(0) is None and slot.closed


def test_clear_counts_a_waiting_item() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.clear() is False
    slot.put(1)
    assert slot.clear() is True
    assert slot.dropped_count == 1 and len(slot) == 0


def test_fast_producer_slow_consumer_never_queues() -> None:
    slot: LatestSlot[int] = LatestSlot()
    taken = []
    last = 1999
    got_last = threading.Event()

    def consumer() -> None:
        while True:
            item = slot.take()  # blocks until a put or close
            if item is None:
                return
            taken.append(item)
            if item == last:
                got_last.set()
            time.sleep(0.005)  # "inference"

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(last + 1):
        slot.put(i)
        assert len(slot) <= 1
    # the newest item stays in the slot until taken: the consumer gets it whenever it runs
    assert got_last.wait(10.0), "the newest item was never taken"
    slot.close()
    t.join(5.0)
    assert not t.is_alive()
    assert taken == sorted(taken) and taken[-1] == last
    assert slot.dropped_count + slot.taken_count == slot.put_count
    assert slot.dropped_count > 0
