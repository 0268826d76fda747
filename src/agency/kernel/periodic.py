"""The table of system-wide recurring jobs (the scheduler's first claimer reads it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base


class PeriodicJob(Base):
    """System-wide recurring job: not tenant-owned, one row per job name."""

    __tablename__ = "periodic_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    interval_seconds: Mapped[int]
    next_run_at: Mapped[datetime]
    last_enqueued_at: Mapped[datetime | None]
