"""Jobs and periodic schedules of this domain (imported by agency.tasks)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime
from agency.media.storage import media_storage


@job("media.delete_object", max_retries=10)
async def delete_object(session: AsyncSession, runtime: Runtime, storage_key: str) -> None:
    """Remove a deleted media's file, once the deletion has committed (idempotent)."""
    await media_storage(runtime).delete(storage_key)
