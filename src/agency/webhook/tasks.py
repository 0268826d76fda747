"""Jobs and periodic schedules of this domain (imported by agency.tasks)."""

from __future__ import annotations
