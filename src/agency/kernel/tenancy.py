"""Tenancy: who is asking, and the one helper that scopes every statement to their agency.

Two walls keep agencies apart. The first is here: repositories build every readable or
writable statement with :func:`scoped_select`, :func:`scoped_update` or
:func:`scoped_delete`; nothing else filters on ``agency_id`` by hand (a test enforces it).
The second is PostgreSQL Row-Level Security: :func:`bind_tenant` sets ``app.agency_id`` for
the transaction and the policies written by :mod:`agency.kernel.rls` do the rest.

A client member (someone of a client brand, not of the agency) is a subject of the agency too,
narrowed to their brands: the same helpers add ``brand_id IN (their brands)`` to every
statement. A table says how it belongs to a brand with :meth:`TenantMixin.brand_scope`; one
that does not say (members, API tokens, webhooks...) shows a client member nothing at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Select,
    bindparam,
    delete,
    false,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.dml import Delete, Update

from agency.kernel.errors import Forbidden
from agency.kernel.i18n import Text

SubjectKind = Literal["session", "api_token", "client", "system"]
# Where authentication leaves the request's subject (``request.state``).
SUBJECT_STATE = "agency.subject"


class ActorKind(StrEnum):
    """Who did something, as the audit log and a publication's history name them."""

    USER = "user"
    API_TOKEN = "api_token"
    CLIENT = "client"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Subject:
    """The authenticated caller: one agency, and what it may do there."""

    agency_id: uuid.UUID
    kind: SubjectKind
    credential_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    role: str | None = None
    # An API token's creator, whose current role bounds it; None for tokens the system issued.
    on_behalf_of: uuid.UUID | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    # A client member's brands (those granting what the route needs); None: the whole agency.
    brand_ids: frozenset[uuid.UUID] | None = None
    # Only tests turn this off, to prove that RLS alone keeps tenants apart.
    app_filter: bool = True
    # The language the person chose for themselves, and the one the agency gave a client
    # member on their brand (agency.kernel.i18n.choose weighs them with Accept-Language).
    locale: str | None = None
    given_locale: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(
                Text("This credential lacks the '{permission}' permission.", permission=permission)
            )

    @property
    def actor(self) -> tuple[ActorKind, uuid.UUID | None]:
        """How the audit log names this caller."""
        if self.kind == "api_token":
            return ActorKind.API_TOKEN, self.credential_id
        if self.kind == "system":
            return ActorKind.SYSTEM, None
        if self.kind == "client":
            return ActorKind.CLIENT, self.user_id
        return ActorKind.USER, self.user_id


class TenantMixin:
    """Columns and indexes of every tenant-owned table: ``agency_id`` leads each index."""

    @declared_attr
    def agency_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), nullable=False)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        extra: tuple[Any, ...] = getattr(cls, "__tenant_indexes__", ())
        name = cls.__tablename__  # type: ignore[attr-defined]
        return (Index(f"ix_{name}_agency_id_id", "agency_id", "id"), *extra)

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        """Which rows a client member may reach: those of their brands, or none."""
        brand_id = getattr(cls, "brand_id", None)
        if brand_id is None or subject.brand_ids is None:
            return false()
        return brand_id.in_(subject.brand_ids)  # type: ignore[no-any-return]


M = TypeVar("M", bound=TenantMixin)


def _clauses(model: type[M], subject: Subject) -> list[Any]:
    clauses = [model.agency_id == subject.agency_id] if subject.app_filter else []
    # The brand wall has no RLS twin, so it stands even when the app filter is off.
    if subject.brand_ids is not None:
        clauses.append(model.brand_scope(subject))
    return clauses


def scoped_select(model: type[M], subject: Subject) -> Select[M]:
    return select(model).where(*_clauses(model, subject))


# The agency of a statement built once by :func:`scoped_template`, bound when it runs.
SCOPE_AGENCY = "scope_agency_id"


def scoped_template(model: type[M], *columns: Any) -> Select[Any]:
    """:func:`scoped_select` built once for every agency, reading ``columns``: the agency is
    the bound parameter :data:`SCOPE_AGENCY`, given by :func:`template_parameters`.

    Only for a subject the template fits (:func:`template_fits`): a client member's brand wall
    and the tests' RLS-only mode change the statement's shape, so they keep
    :func:`scoped_select`.
    """
    return select(*(columns or (model,))).where(model.agency_id == bindparam(SCOPE_AGENCY))


def template_fits(subject: Subject) -> bool:
    """Whether :func:`scoped_template` scopes this subject as :func:`scoped_select` would."""
    return subject.app_filter and subject.brand_ids is None


def template_parameters(subject: Subject) -> dict[str, Any]:
    if not template_fits(subject):
        raise RuntimeError("a template statement cannot scope this subject")
    return {SCOPE_AGENCY: subject.agency_id}


def scoped_update(model: type[M], subject: Subject) -> Update:
    return update(model).where(*_clauses(model, subject))


def scoped_delete(model: type[M], subject: Subject) -> Delete:
    return delete(model).where(*_clauses(model, subject))


async def bind_tenant(session: AsyncSession, agency_id: uuid.UUID) -> None:
    """Point RLS at one agency for the rest of this transaction (no-op off PostgreSQL)."""
    await _set_local(session, "app.agency_id", str(agency_id))


async def bind_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Let RLS show one user's own memberships across agencies (login only)."""
    await _set_local(session, "app.user_id", str(user_id))


async def bind_system(session: AsyncSession) -> None:
    """Cross-tenant work of the scheduler and maintenance jobs, never of a request."""
    await _set_local(session, "app.system", "on")


# Built once, not on every call: each select() costs its construction and a new cache key.
_SET_LOCAL = text("SELECT set_config(:name, :value, true)")


async def _set_local(session: AsyncSession, name: str, value: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_SET_LOCAL, {"name": name, "value": value})
