"""Brand reports kept in the process, served again while nothing they were computed from changed.

A report is read far more often than its figures move (pulls land hourly at most), and
computing one costs the server tens of milliseconds of Python for a few hundred rows. So a
computed report is kept under its question (agency, brand, period, line, and the reader when
a client member's own line may decide it) together with the *stamp* of what it was computed
from (:meth:`ReportRepository.stamp`, see :mod:`agency.kernel.stamped`). A request reads the
stamp first, one statement, and gets the kept report only when the stamp is the same: a pull
that adds to a rollup day, an edited channel, slot, cost or coverage entry, a crisis, a saved
report all change it, in any process or replica, so there is nothing to invalidate by hand
and nothing goes stale. A report kept this way keeps its ``generated_at``: the moment its
figures were computed.

Off PostgreSQL (the embedded SQLite) there is no stamp and nothing is kept.
"""

from __future__ import annotations

from agency.kernel.stamped import StampedCache
from agency.reporting.schemas import BrandReport


class ReportCache(StampedCache[BrandReport]):
    """The last ``size`` reports computed, least recently used out first."""


# One cache per process and size (the API reads the size from its settings once).
_CACHES: dict[int, ReportCache] = {}


def report_cache(size: int) -> ReportCache | None:
    """The process's cache of ``size`` reports; None when the setting turns it off (0)."""
    if size <= 0:
        return None
    return _CACHES.setdefault(size, ReportCache(size))
