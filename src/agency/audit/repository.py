from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Select, Text, bindparam, cast
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.models import AuditEvent
from agency.kernel.db import json_values
from agency.kernel.pagination import PageRequest, encode_cursor
from agency.kernel.repository import HotRead, TenantRepository
from agency.kernel.tenancy import (
    Subject,
    bind_tenant,
    scoped_template,
    template_fits,
    template_parameters,
)

# What the list shows of an event, in the order of its answer (``AuditEventOut``). The
# changes come as their stored JSON text, decoded a page at a time (``EventPage``).
LISTED = (
    AuditEvent.id,
    AuditEvent.actor_type,
    AuditEvent.actor_id,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
    cast(AuditEvent.changes, Text),
    AuditEvent.created_at,
)
FILTERS = ("object_type", "object_id", "action")


def _newest(shape: Hashable) -> Select[Any]:
    """The list's statement for one shape: which filters are given, and whether a cursor is."""
    assert isinstance(shape, tuple)
    *filtered, after = shape
    stmt = scoped_template(AuditEvent, *LISTED)
    for name, given in zip(FILTERS, filtered, strict=True):
        if given:
            stmt = stmt.where(getattr(AuditEvent, name) == bindparam(name))
    if after:
        stmt = stmt.where(AuditEvent.id < bindparam("after_id"))
    return stmt.order_by(AuditEvent.id.desc()).limit(bindparam("rows"))


NEWEST = HotRead(_newest)


class EventPage(NamedTuple):
    """A page of the log: rows of ``LISTED`` by position, each row's changes decoded (in
    one call for the page), and the cursor of the next page if there is one."""

    rows: Sequence[Sequence[Any]]
    changes: list[dict[str, Any]]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[Sequence[Any]], next_cursor: str | None) -> EventPage:
        return cls(rows, json_values([row[6] for row in rows]), next_cursor)


class AuditRepository(TenantRepository[AuditEvent]):
    model = AuditEvent
    noun = "audit event"

    def record(
        self,
        action: str,
        object_type: str,
        object_id: uuid.UUID | None,
        changes: dict[str, Any] | None = None,
    ) -> AuditEvent:
        actor_type, actor_id = self.subject.actor
        event = AuditEvent(
            agency_id=self.subject.agency_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=changes or {},
        )
        self.session.add(event)
        return event

    def filtered(
        self, object_type: str | None, object_id: uuid.UUID | None, action: str | None
    ) -> Select[AuditEvent]:
        stmt = self.select()
        if object_type:
            stmt = stmt.where(AuditEvent.object_type == object_type)
        if object_id:
            stmt = stmt.where(AuditEvent.object_id == object_id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return stmt

    async def newest(
        self,
        page: PageRequest,
        object_type: str | None,
        object_id: uuid.UUID | None,
        action: str | None,
    ) -> EventPage:
        """A page of the log, newest first."""
        if not template_fits(self.subject) or self.session.get_bind().dialect.name != "postgresql":
            stmt = self._paged(page, self.filtered(object_type, object_id, action))
            rows = (await self.session.execute(stmt.with_only_columns(*LISTED))).all()
            return EventPage.of(*self._cut(page, rows))
        given = {"object_type": object_type, "object_id": object_id, "action": action}
        # An empty filter filters nothing, as in ``filtered``.
        shape = (*(bool(given[name]) for name in FILTERS), page.after_id is not None)
        params = {
            **template_parameters(self.subject),
            **given,
            "after_id": page.after_id,
            "rows": page.limit + 1,
        }
        found = await NEWEST.rows(self.session, shape, params)
        if len(found) > page.limit:
            found = found[: page.limit]
            return EventPage.of(found, encode_cursor(found[-1][0]))
        return EventPage.of(found, None)


async def record_refusal(
    session: AsyncSession,
    agency_id: uuid.UUID,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Record a refused sign-in in a transaction of its own.

    The request's transaction is rolled back with the error it answers, and a refusal is
    exactly what the audit log must keep: it is written through a session of its own, on the
    engine of ``session``.
    """
    async with AsyncSession(session.bind) as own:
        await bind_tenant(own, agency_id)
        AuditRepository(own, Subject(agency_id=agency_id, kind="system")).record(
            action, object_type, object_id, changes
        )
        await own.commit()
