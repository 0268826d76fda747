"""The decision page (public: the link is the credential) and the links' management.

``GET /decide/{token}`` shows the publication and three forms; each form posts to
``POST /decide`` with the token in a hidden field, so a post is only ever as good as the
secret it carries (and a post another site makes the browser send is refused). Viewing
spends nothing (mail scanners open links); a decision spends the link in the same
transaction as the decision: a refused decision leaves it usable. A browser gets HTML
pages, anyone else RFC 9457 problems.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Permission
from agency.approval.link.mailing import DECIDE_PATH
from agency.approval.link.page import SECURITY_HEADERS, messages, render
from agency.approval.link.preview import previews
from agency.approval.link.schemas import DecisionLinkList, DecisionLinkOut
from agency.approval.link.service import (
    DecisionLinkService,
    Opened,
    Refusal,
    brand_of,
    open_link,
    refused,
    spend,
)
from agency.approval.schemas import DecisionKind
from agency.approval.service import ApprovalService
from agency.kernel.deps import AppRuntime, CurrentSubject, DbSession
from agency.kernel.errors import Conflict, Forbidden, InvalidInput
from agency.kernel.i18n import render as translated
from agency.kernel.runtime import Runtime
from agency.publication.timing import local_display

PUBLIC = {"public": True}
HTML = "text/html"


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return HTML in request.headers.get("accept", "")


def _page(body: str, status: int = 200) -> Response[str]:
    return Response(body, status_code=status, media_type=HTML, headers=SECURITY_HEADERS)


def _refused_page(request: Request[Any, Any, Any], refusal: Refusal, locale: str) -> Response[str]:
    if not _wants_html(request):
        raise refusal.error
    html = render("refused.html", locale, reason=refusal.reason)
    return _page(html, refusal.error.status_code)


async def _decide_page(
    session: AsyncSession,
    runtime: Runtime,
    opened: Opened,
    token: str,
    error: str | None = None,
    status: int = 200,
) -> Response[str]:
    brand = await brand_of(session, opened)
    html = render(
        "decide.html",
        opened.member.locale,
        title=opened.publication.title,
        brand=brand.name,
        step=opened.link.step_name,
        scheduled_at=opened.publication.scheduled_at,
        scheduled_local=local_display(opened.publication.scheduled_at, brand.timezone),
        timezone=brand.timezone,
        variants=await previews(session, opened.subject, runtime, opened.publication),
        person=opened.member.name,
        action=DECIDE_PATH,
        token=token,
        error=error,
    )
    return _page(html, status)


class DecisionForm(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(max_length=200)]
    decision: DecisionKind
    comment: Annotated[str, msgspec.Meta(max_length=4000)] = ""


@get(
    "/decide/{token:str}",
    opt=PUBLIC,
    media_type=HTML,
    include_in_schema=False,
    tags=["Approvals"],
)
async def decision_page(
    request: Request[Any, Any, Any],
    runtime: AppRuntime,
    token: FromPath[str],
    db_session: DbSession,
) -> Response[str]:
    """The publication as each network will show it, and the three decisions."""
    try:
        opened = await open_link(db_session, token)
    except Refusal as refusal:
        return _refused_page(request, refusal, _locale_of(request))
    return await _decide_page(db_session, runtime, opened, token)


@post(
    DECIDE_PATH,
    opt={**PUBLIC, "rate_limit": True},
    media_type=HTML,
    include_in_schema=False,
    status_code=200,
    tags=["Approvals"],
)
async def decide_from_link(
    request: Request[Any, Any, Any],
    runtime: AppRuntime,
    db_session: DbSession,
    data: Annotated[DecisionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    """Record the decision as the link's person's, and spend the link."""
    locale = _locale_of(request)
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return _refused_page(request, refused("cross_site"), locale)
    try:
        opened = await open_link(db_session, data.token)
    except Refusal as refusal:
        return _refused_page(request, refusal, locale)
    spent = await spend(db_session, opened, data.token, data.decision.value)
    if not spent:  # another post with the same link won a moment before
        return _refused_page(request, refused("used"), opened.member.locale)
    try:
        await ApprovalService(db_session, opened.subject, runtime).decide(
            opened.member,
            opened.publication.id,
            opened.link.content_hash,
            data.decision,
            data.comment or None,
            via="link",
            step=opened.link.step_position,
        )
    except InvalidInput as exc:  # a comment is required: the link stays usable
        if not _wants_html(request):
            raise
        return await _decide_page(
            db_session,
            runtime,
            opened,
            data.token,
            error=translated(exc.detail, opened.member.locale),
            status=422,
        )
    except Conflict as exc:
        reason = "stale" if exc.extensions.get("code") == "stale_version" else "not_asked"
        return _refused_page(request, refused(reason), opened.member.locale)
    except Forbidden:
        return _refused_page(request, refused("not_asked"), opened.member.locale)
    html = render(
        "done.html",
        opened.member.locale,
        decision=data.decision.value,
        title=opened.publication.title,
    )
    return _page(html)


def _locale_of(request: Request[Any, Any, Any]) -> str:
    """Before the link is read, the browser's first language we speak (French otherwise)."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in ("fr", "en"):
            return code
    return "fr"


class DecisionLinkController(Controller):
    tags = ["Approvals"]

    @get(
        "/publications/{publication_id:uuid}/decision-links",
        opt={"permission": Permission.PUBLICATIONS_APPROVE},
        summary="The decision links e-mailed for a publication (never their secrets)",
    )
    async def list_decision_links(
        self, publication_id: FromPath[uuid.UUID], db_session: DbSession, subject: CurrentSubject
    ) -> DecisionLinkList:
        rows = await DecisionLinkService(db_session, subject).of_publication(publication_id)
        return DecisionLinkList(items=[DecisionLinkOut.of(link) for link in rows])

    @post(
        "/decision-links/{decision_link_id:uuid}/revoke",
        opt={"permission": Permission.PUBLICATIONS_APPROVE},
        status_code=200,
        summary="Revoke a decision link: it opens only a page saying so",
    )
    async def revoke_decision_link(
        self,
        decision_link_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> DecisionLinkOut:
        link = await DecisionLinkService(db_session, subject).revoke(decision_link_id)
        return DecisionLinkOut.of(link)


ROUTES: list[Any] = [decision_page, decide_from_link, DecisionLinkController]

__all__ = ["ROUTES", "messages"]
