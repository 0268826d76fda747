"""What a client member may do on a brand, and the agency permissions each opens there.

Routes name agency permissions (``publications:read``...); a client member holds client
permissions per brand. A route is open to them on the brands whose permissions map to what
the route needs, and the tenancy helper narrows every statement to exactly those brands.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum

from agency.access.permissions import Permission


class ClientPermission(StrEnum):
    CALENDAR_READ = "calendar:read"
    COMMENT = "comment"
    APPROVE = "approve"
    REPORTS_READ = "reports:read"
    REPORTS_RECEIVE = "reports:receive"
    # Switch the brand's crisis mode on and off: the client's general management only.
    CRISIS = "crisis"


# Seeing the brand itself comes with any place on it.
_OPENS: dict[ClientPermission, frozenset[str]] = {
    ClientPermission.CALENDAR_READ: frozenset(
        {Permission.BRANDS_READ, Permission.PUBLICATIONS_READ}
    ),
    ClientPermission.COMMENT: frozenset({Permission.BRANDS_READ, Permission.PUBLICATIONS_READ}),
    ClientPermission.APPROVE: frozenset({Permission.BRANDS_READ, Permission.PUBLICATIONS_READ}),
    ClientPermission.REPORTS_READ: frozenset({Permission.BRANDS_READ, Permission.REPORTS_READ}),
    ClientPermission.REPORTS_RECEIVE: frozenset({Permission.BRANDS_READ}),
    # The crisis decision makers read the inbox to approve the answers a crisis holds.
    ClientPermission.CRISIS: frozenset(
        {
            Permission.BRANDS_READ,
            Permission.PUBLICATIONS_READ,
            Permission.CRISIS_MANAGE,
            Permission.COMMENTS_READ,
        }
    ),
}


def opened_by(client_permissions: Iterable[str]) -> frozenset[str]:
    """The agency permissions a set of client permissions opens on its brand."""
    opened: set[str] = set()
    for name in client_permissions:
        try:
            opened |= _OPENS[ClientPermission(name)]
        except ValueError:
            continue  # a permission retired since it was granted grants nothing
    return frozenset(opened)


def brands_granting(
    by_brand: Mapping[uuid.UUID, Iterable[str]], needed: str | None
) -> frozenset[uuid.UUID]:
    """The brands on which a client member holds what a route needs (any place, if nothing)."""
    return frozenset(
        brand_id
        for brand_id, granted in by_brand.items()
        if needed is None or needed in opened_by(granted)
    )
