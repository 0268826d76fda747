"""Opening a decision link (every reason it may not decide), spending it, and the links'
management. The page itself is :mod:`agency.approval.link.endpoints`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.client_permissions import ClientPermission, opened_by
from agency.access.secrets import hash_secret, parse_bearer, secret_matches
from agency.approval.link.mailing import LINK_PREFIX
from agency.approval.link.models import DecisionLink
from agency.approval.link.repository import DecisionLinkRepository
from agency.approval.routing import content_hash
from agency.audit.repository import AuditRepository, record_refusal
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.client.models import ClientMember
from agency.client.repository import ClientMemberRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import AppError, Conflict, Forbidden, Gone, NotFound
from agency.kernel.tenancy import Subject, bind_tenant
from agency.publication.models import Publication
from agency.publication.repository import PublicationRepository, VariantRepository


class Refusal(Exception):
    def __init__(self, reason: str, error: AppError) -> None:
        self.reason = reason
        self.error = error


_REFUSALS: dict[str, tuple[type[AppError], str]] = {
    "unknown": (NotFound, "This decision link is unknown."),
    "used": (Gone, "This decision link was already used."),
    "expired": (Gone, "This decision link has expired."),
    "revoked": (Gone, "This decision link was revoked."),
    "stale": (Conflict, "The publication changed since this link was sent."),
    "not_asked": (Forbidden, "Your decision is no longer expected on this publication."),
    "cross_site": (Forbidden, "A decision must be posted from the decision page itself."),
}


def refused(reason: str) -> Refusal:
    error, detail = _REFUSALS[reason]
    return Refusal(reason, error(detail, reason=reason))


class Opened(msgspec.Struct):
    link: DecisionLink
    member: ClientMember
    publication: Publication
    subject: Subject


async def open_link(session: AsyncSession, token: str) -> Opened:
    """The link named by ``token``, if it may still decide; a :class:`Refusal` otherwise."""
    bearer = parse_bearer(token, LINK_PREFIX)
    if bearer is None:
        raise refused("unknown")
    await bind_tenant(session, bearer.agency_id)
    system = Subject(agency_id=bearer.agency_id, kind="system")
    link = await DecisionLinkRepository(session, system).find(bearer.object_id)
    if link is None or not secret_matches(bearer.secret, link.secret_hash):
        raise refused("unknown")
    member = await ClientMemberRepository(session, system).find(link.client_member_id)
    publication = await PublicationRepository(session, system).find(link.publication_id)
    reason = await _refused_because(session, system, link, member, publication)
    if reason is not None or member is None or publication is None:
        await record_refusal(
            session,
            bearer.agency_id,
            "approval.decision_link_refused",
            "decision_link",
            link.id,
            {"reason": reason or "not_asked"},
        )
        raise refused(reason or "not_asked")
    subject = Subject(
        agency_id=bearer.agency_id,
        kind="client",
        user_id=member.user_id,
        permissions=opened_by(member.permissions),
        brand_ids=frozenset({member.brand_id}),
    )
    return Opened(link, member, publication, subject)


async def _refused_because(
    session: AsyncSession,
    system: Subject,
    link: DecisionLink,
    member: ClientMember | None,
    publication: Publication | None,
) -> str | None:
    """Why the link may not decide now (the most telling reason first), or None."""
    if link.used_at is not None:
        return "used"
    if publication is not None:
        variants = await VariantRepository(session, system).of_publication(publication.id)
        if content_hash(variants) != link.content_hash:
            return "stale"  # an edit revokes the links of the version before it, too
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= utcnow():
        return "expired"
    if (
        member is None
        or publication is None
        or member.disabled_at is not None
        or ClientPermission.APPROVE not in member.permissions
    ):
        return "not_asked"
    return None


async def spend(session: AsyncSession, opened: Opened, token: str, decision: str) -> bool:
    """Spend the link for ``decision``; False when another post spent it a moment before."""
    bearer = parse_bearer(token, LINK_PREFIX)
    assert bearer is not None
    links = DecisionLinkRepository(session, opened.subject)
    spent = await links.spend(opened.link.id, hash_secret(bearer.secret), utcnow(), decision)
    return spent is not None


async def brand_of(session: AsyncSession, opened: Opened) -> Brand:
    return await BrandRepository(session, opened.subject).get(opened.publication.brand_id)


class DecisionLinkService:
    """The links e-mailed for a publication, as agency staff see and revoke them."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.links = DecisionLinkRepository(session, subject)

    async def of_publication(self, publication_id: uuid.UUID) -> Sequence[DecisionLink]:
        await PublicationRepository(self.session, self.subject).get(publication_id)
        return await self.links.of_publication(publication_id)

    async def revoke(self, link_id: uuid.UUID) -> DecisionLink:
        link = await self.links.get(link_id)
        if link.used_at is not None:
            raise Conflict("This link was already used: the decision stands.")
        await self.links.revoke_open(link.publication_id, utcnow(), self.subject.user_id, link.id)
        AuditRepository(self.session, self.subject).record(
            "approval.decision_link_revoked", "decision_link", link.id, {}
        )
        await self.session.refresh(link)
        return link
