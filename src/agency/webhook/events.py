"""Publishing domain events to the agency's webhook subscriptions (transactional outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def emit(
    session: AsyncSession, agency_id: uuid.UUID, event_type: str, data: Mapping[str, Any]
) -> None:
    """Record ``event_type`` for the agency in the current transaction (delivered after commit)."""
    # Placeholder until the webhook module lands: the event is dropped.
    return None
