"""The worker's limit of open files, raised to what its calls in flight need."""

from __future__ import annotations

import logging
import resource

logger = logging.getLogger("agency.worker")

# Sockets and files besides the calls to the networks: database and broker connections,
# logs, media being read.
MARGIN = 256


def raise_open_files(connections: int) -> int:
    """Raise the process's soft limit of open files to ``connections`` plus a margin when
    it is lower, within the hard limit (many systems start a service with a soft limit of
    1,024: a worker with 1,024 calls in flight would fail to open its next socket). Returns
    the soft limit in force; warns when even the hard limit is short."""
    needed = connections + MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        logger.warning(
            "open files limited to %d (hard limit): %d connections to the networks need %d; "
            "raise the limit (ulimit -n, LimitNOFILE) or lower AGENCY_HTTP_MAX_CONNECTIONS",
            target,
            connections,
            needed,
        )
    return target
