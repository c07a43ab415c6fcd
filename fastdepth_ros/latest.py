"""A one-element, thread-safe "newest frame" slot between a ROS callback and a worker.

Why not a queue: a camera at 30 Hz feeding a model that runs at 10 Hz would grow any
FIFO without bound and every published depth image would be older than the last.  The
slot holds exactly one item; ``put`` replaces what is there and counts the replaced item
as dropped, so the worker always gets the newest frame and memory stays constant.
"""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds the newest item; ``take`` blocks until one is there (or timeout / close)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self._full = False
        self._closed = False
        self.put_count = 0  # items offered since construction
        self.dropped_count = 0  # items replaced before anyone took them
        self.taken_count = 0

    def put(self, item: T) -> bool:
        """Store ``item``, replacing an untaken one.  Returns True when one was dropped."""
        with self._cond:
            dropped = self._full
            if dropped:
                self.dropped_count += 1
            self._item = item
            self._full = True
            self.put_count += 1
            self._cond.notify()
            return dropped

    def take(self, timeout_s: Optional[float] = None) -> Optional[T]:
        """The newest item, removing it; None on timeout or once closed."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait_for(lambda: self._full or self._closed, timeout=timeout_s)
            if self._closed or not self._full:
                return None
            item = self._item
            self._item = None
            self._full = False
            self.taken_count += 1
            return item

    def clear(self) -> bool:
        """Discard a waiting item (counted as dropped).  Returns True when one was there."""
        with self._cond:
            had = self._full
            if had:
                self.dropped_count += 1
            self._item = None
            self._full = False
            return had

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return None at once (shutdown)."""
        with self._cond:
            self._closed = True
            self._item = None
            self._full = False
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return 1 if self._full else 0
