"""Calendars kept in the process as the bytes of their answer, sent again while nothing they
show changed.

A frontend reads the calendar far more often than anyone edits it, and making a month's
answer costs the server milliseconds of Python (hundreds of rows read and encoded) and the
database a four-table join. So an answer is kept under its question (agency, range, filters,
cursor, page size) with the *stamp* of what it shows (:meth:`CalendarRepository.stamp`, see
:mod:`agency.kernel.stamped`): a request reads the stamp, one statement, and is sent the kept
bytes and their ETag when it is the same. Creating, editing, scheduling, cancelling or
publishing a post, renaming a channel or a brand change the stamp, in any process or
replica. The request's authentication and permission checks run as before; only agency
members' answers are kept (a client member's brand wall reads otherwise).
"""

from __future__ import annotations

from typing import NamedTuple

from agency.kernel.stamped import StampedCache


class KeptCalendar(NamedTuple):
    body: bytes
    etag: str


# One cache per process and size (the API reads the size from its settings).
_CACHES: dict[int, StampedCache[KeptCalendar]] = {}


def calendar_cache(size: int) -> StampedCache[KeptCalendar] | None:
    """The process's cache of ``size`` calendar answers; None when the setting turns it off."""
    if size <= 0:
        return None
    return _CACHES.setdefault(size, StampedCache(size))
