"""Telling the people a step asks: each in their language; a client approver gets a link to
decide from the e-mail, an agency member the way to the team's space.

Written in the caller's transaction: a rolled-back step mails no one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import hash_secret, new_bearer
from agency.approval.link.models import DecisionLink
from agency.approval.link.repository import DecisionLinkRepository
from agency.brand.models import Brand
from agency.kernel.db import new_id, utcnow
from agency.kernel.tenancy import Subject
from agency.mail.service import frontend_link, queue_mail
from agency.publication.models import Publication
from agency.publication.timing import local_display

if TYPE_CHECKING:
    from agency.config import Settings
    from agency.kernel.runtime import Runtime

LINK_PREFIX = "agd"
TEMPLATE = "approval_requested"


class Asked(Protocol):
    """Who a step asks (an approval assignment): enough to reach them."""

    user_id: uuid.UUID
    kind: str
    client_member_id: uuid.UUID | None
    name: str
    email: str
    locale: str


def decision_url(settings: Settings, token: str) -> str:
    """The page the API serves for this link (not the frontend: it works without it)."""
    return f"{settings.server.public_url.rstrip('/')}/decide/{token}"


DECIDE_PATH = "/decide"


def team_url(settings: Settings, publication: Publication) -> str:
    return frontend_link(settings, f"/publications/{publication.id}")


async def issue(
    session: AsyncSession,
    subject: Subject,
    asked: Asked,
    publication: Publication,
    content_hash: str,
    step_position: int,
    step_name: str,
    ttl: timedelta,
) -> str:
    """A new decision link for ``asked`` (a client member) on this version; its token."""
    assert asked.client_member_id is not None
    link_id = new_id()
    bearer = new_bearer(subject.agency_id, link_id)
    await DecisionLinkRepository(session, subject).add(
        DecisionLink(
            id=link_id,
            brand_id=publication.brand_id,
            publication_id=publication.id,
            client_member_id=asked.client_member_id,
            user_id=asked.user_id,
            content_hash=content_hash,
            step_position=step_position,
            step_name=step_name,
            secret_hash=hash_secret(bearer.secret),
            expires_at=utcnow() + ttl,
        )
    )
    return bearer.render(LINK_PREFIX)


async def mail_asked(
    session: AsyncSession,
    runtime: Runtime,
    brand: Brand,
    publication: Publication,
    content_hash: str,
    step_position: int,
    step_name: str,
    due_at: datetime | None,
    asked: Sequence[Asked],
) -> None:
    """One e-mail to each person ``asked`` on this step of this version."""
    subject = Subject(publication.agency_id, "system")
    settings = runtime.settings
    ttl = timedelta(hours=settings.mail.decision_link_ttl_hours)
    # A new version supersedes the links of the one before: they would only answer "stale".
    await DecisionLinkRepository(session, subject).revoke_open(
        publication.id, utcnow(), None, other_than=content_hash
    )
    for person in asked:
        link = None
        if person.kind == "client" and person.client_member_id is not None:
            token = await issue(
                session,
                subject,
                person,
                publication,
                content_hash,
                step_position,
                step_name,
                ttl,
            )
            link = decision_url(settings, token)
        await queue_mail(
            session,
            subject,
            runtime.secrets,
            person.email,
            TEMPLATE,
            person.locale,
            {
                "name": person.name,
                "brand": brand.name,
                "title": publication.title,
                "step": step_name,
                "due_at": local_display(due_at, brand.timezone) if due_at else "",
                "scheduled_at": (
                    local_display(publication.scheduled_at, brand.timezone)
                    if publication.scheduled_at
                    else ""
                ),
                "timezone": brand.timezone,
                "link": link,
                "valid_for_hours": settings.mail.decision_link_ttl_hours,
                "team_link": team_url(settings, publication),
            },
            settings=settings.mail,
        )
