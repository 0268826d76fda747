"""A crisis timeline line, built where it happens (a request, the publishing worker)."""

from __future__ import annotations

import uuid
from typing import Any

from agency.brand.models import CrisisEvent
from agency.kernel.db import utcnow


def crisis_event(
    agency_id: uuid.UUID,
    crisis_id: uuid.UUID,
    brand_id: uuid.UUID,
    kind: str,
    *,
    actor: tuple[str, uuid.UUID | None] = ("system", None),
    actor_name: str | None = None,
    publication_id: uuid.UUID | None = None,
    variant_id: uuid.UUID | None = None,
    **detail: Any,
) -> CrisisEvent:
    """A new timeline line (the caller adds it to its session, so it commits with the act)."""
    return CrisisEvent(
        agency_id=agency_id,
        crisis_id=crisis_id,
        brand_id=brand_id,
        at=utcnow(),
        kind=kind,
        actor_kind=actor[0],
        actor_id=actor[1],
        actor_name=actor_name,
        publication_id=publication_id,
        variant_id=variant_id,
        detail=detail,
    )
