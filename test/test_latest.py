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


def test_take_wakes_on_put_from_other_thread() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    time.sleep(0.02)
    slot.put("frame")
    t.join(2.0)
    assert got == ["frame"]


def test_close_wakes_waiter_and_rejects_later_takes() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    time.sleep(0.02)
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
    stop = threading.Event()

    def consumer() -> None:
        while not stop.is_set():
            item = slot.take(0.05)
            if item is not None:
                taken.append(item)
                time.sleep(0.005)  # "inference"

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(2000):
        slot.put(i)
        assert len(slot) <= 1
    time.sleep(0.05)
    stop.set()
    t.join(2.0)
    assert taken == sorted(taken) and taken[-1] == 1999
    assert slot.dropped_count + slot.taken_count == slot.put_count
    assert slot.dropped_count > 0
