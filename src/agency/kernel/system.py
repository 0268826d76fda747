"""The system scope: the only statements allowed to read or write across agencies.

Every other repository is a :class:`~agency.kernel.repository.TenantRepository`, bound to one
subject. A :class:`SystemRepository` is not: the scheduler's claimers, the sweeps and the
purges, and the operator's commands, look at every agency at once, in a session bound with
:func:`~agency.kernel.tenancy.bind_system` (under PostgreSQL, the role RLS lets see all
rows). Nothing on the request path builds one. Domains keep their own system repositories
next to their tenant ones (``ChannelSweepRepository``...); the kernel's own are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, exists, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.periodic import PeriodicJob


class SystemRepository:
    """Statements across every agency, in a session bound to the system."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class PeriodicJobRepository(SystemRepository):
    async def claim_due(self, now: datetime) -> Sequence[PeriodicJob]:
        """Due rows, locked; another scheduler replica skips them (``SKIP LOCKED``)."""
        stmt = (
            select(PeriodicJob)
            .where(PeriodicJob.next_run_at <= now)
            .order_by(PeriodicJob.next_run_at)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def ensure(self, schedule: dict[str, timedelta], now: datetime) -> None:
        """A row for each job of ``schedule`` that has none (first run: ``now``)."""
        existing = set((await self.session.execute(select(PeriodicJob.name))).scalars())
        for name, every in schedule.items():
            if name in existing:
                continue
            try:
                async with self.session.begin_nested():
                    self.session.add(
                        PeriodicJob(
                            name=name, interval_seconds=int(every.total_seconds()), next_run_at=now
                        )
                    )
            except IntegrityError:
                pass  # another scheduler replica inserted it first


class SealedValueRepository(SystemRepository):
    """The values of the columns encrypted at rest, in every table (key rotation)."""

    async def any_in(self, column: Column[Any]) -> bool:
        return bool(await self.session.scalar(select(exists().where(column.is_not(None)))))

    async def batch_after(
        self, table: Table, column: Column[Any], last: Any, size: int
    ) -> Sequence[tuple[Any, Any]]:
        """``(primary key, value)`` of the next ``size`` rows holding a value, by key."""
        key = next(iter(table.primary_key.columns))
        stmt = select(key, column).where(column.is_not(None)).order_by(key).limit(size)
        if last is not None:
            stmt = stmt.where(key > last)
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def rewrite(self, table: Table, column: Column[Any], row_key: Any, value: Any) -> None:
        key = next(iter(table.primary_key.columns))
        await self.session.execute(update(table).where(key == row_key).values({column.name: value}))


class DatabaseRoleRepository(SystemRepository):
    """The connection itself, and what the connected PostgreSQL role may do: ``agency check``
    refuses a role RLS would not bind."""

    async def ping(self) -> None:
        await self.session.execute(text("SELECT 1"))

    async def powers(self) -> tuple[str, bool, bool, int]:
        """The role's name, whether it is a superuser, whether it bypasses RLS, and how many
        tables of the public schema it owns."""
        row = (
            await self.session.execute(
                text(
                    "SELECT current_user, r.rolsuper, r.rolbypassrls, "
                    "(SELECT count(*) FROM pg_tables t WHERE t.schemaname = 'public' "
                    "AND t.tableowner = current_user) "
                    "FROM pg_roles r WHERE r.rolname = current_user"
                )
            )
        ).one()
        return str(row[0]), bool(row[1]), bool(row[2]), int(row[3])
