"""Brand reports kept in the process, served again while nothing they were computed from changed.

A report is read far more often than its figures move (pulls land hourly at most), and
computing one costs the server tens of milliseconds of Python for a few hundred rows. So a
computed report is kept under its question (agency, brand, period, line, and the reader when
a client member's own line may decide it) together with the *stamp* of what it was computed
from (:meth:`ReportRepository.stamp`: per source table, the count and newest row version of
the rows the report reads). A request reads the stamp first, one statement, and gets the kept
report only when the stamp is the same: a pull that adds to a rollup day, an edited channel,
slot, cost or coverage entry, a crisis, a saved report all change it, in any process or
replica, so there is nothing to invalidate by hand and nothing goes stale. A report kept this
way keeps its ``generated_at``: the moment its figures were computed.

Off PostgreSQL (the embedded SQLite) there is no stamp and nothing is kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from agency.reporting.schemas import BrandReport


class ReportCache:
    """The last ``size`` reports computed, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, tuple[tuple[str, ...], BrandReport]] = OrderedDict()

    def get(self, key: Hashable, stamp: tuple[str, ...]) -> BrandReport | None:
        found = self._kept.get(key)
        if found is None or found[0] != stamp:
            return None
        self._kept.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, stamp: tuple[str, ...], report: BrandReport) -> None:
        if self.size <= 0:
            return
        self._kept[key] = (stamp, report)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)


# One cache per process and size (the API reads the size from its settings once).
_CACHES: dict[int, ReportCache] = {}


def report_cache(size: int) -> ReportCache | None:
    """The process's cache of ``size`` reports; None when the setting turns it off (0)."""
    if size <= 0:
        return None
    return _CACHES.setdefault(size, ReportCache(size))
