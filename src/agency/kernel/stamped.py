"""Answers kept in the process and served again while the rows they were made from do not change.

A kept answer carries the *stamp* of what it was made from: per source table, the count of
the rows it read and the sum of their row versions (:func:`agency.kernel.repository.
rows_stamp`). A request reads the stamp first, one statement, and gets the kept answer only
when the stamp is the same. Every insert, update or delete of one of those rows changes it,
from any process or replica sharing the database, so nothing is invalidated by hand and
nothing goes stale. The stamp is read before the answer is made: a write landing between the
two makes the kept answer newer than its stamp, never older (the next read makes it again).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
Stamp = tuple[str, ...]


class StampedCache(Generic[T]):
    """The last ``size`` answers made, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, tuple[Stamp, T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable, stamp: Stamp) -> T | None:
        found = self._kept.get(key)
        if found is None or found[0] != stamp:
            return None
        self._kept.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, stamp: Stamp, answer: T) -> None:
        if self.size <= 0:
            return
        self._kept[key] = (stamp, answer)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
