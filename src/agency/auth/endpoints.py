from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from agency.access.permissions import Permission, Role
from agency.access.secrets import INVITATION_PREFIX, parse_bearer
from agency.auth.cookies import cleared_cookies, session_cookies
from agency.auth.models import Credential
from agency.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    ApiTokenPage,
    CredentialKind,
    Language,
    LocaleChoice,
    LoginInput,
    MeOut,
    MeUser,
    PasswordChange,
    SessionOut,
    SessionRole,
)
from agency.auth.service import (
    CredentialService,
    Issued,
    SessionLife,
    login,
    start_session,
)
from agency.kernel.deps import (
    AppRuntime,
    CurrentSubject,
    DbSession,
    IdempotencyGuard,
    Paging,
    provide_service,
)
from agency.kernel.errors import NotFound
from agency.kernel.tenancy import Subject
from agency.member.models import Membership, User
from agency.member.schemas import InvitationAccept
from agency.member.service import accept_invitation


def _token_out(c: Credential) -> ApiTokenOut:
    return ApiTokenOut(
        id=c.id,
        name=c.name,
        scopes=list(c.scopes),
        created_at=c.created_at,
        expires_at=c.expires_at,
        revoked_at=c.revoked_at,
        last_used_at=c.last_used_at,
        created_by=c.created_by,
    )


def _me(subject: Subject, user: User | None) -> MeOut:
    return MeOut(
        agency_id=subject.agency_id,
        kind=CredentialKind(subject.kind),
        role=Role(subject.role) if subject.role else None,
        permissions=sorted(subject.permissions),
        user=(
            MeUser(id=user.id, email=user.email, name=user.name, locale=_language(user.locale))
            if user
            else None
        ),
        brand_ids=sorted(subject.brand_ids) if subject.brand_ids is not None else None,
    )


def _language(locale: str | None) -> Language | None:
    return "fr" if locale == "fr" else "en" if locale == "en" else None


def _session_out(issued: Issued, membership: Membership) -> SessionOut:
    assert issued.credential.expires_at is not None  # a session always expires
    return SessionOut(
        token=issued.token,
        expires_at=issued.credential.expires_at,
        renewable_until=issued.credential.renewable_until,
        agency_id=membership.agency_id,
        user_id=membership.user_id,
        role=SessionRole(membership.role),
    )


class AuthController(Controller):
    path = "/auth"
    tags = ["Authentication"]
    dependencies = {"credentials": provide_service(CredentialService)}

    @post(
        "/login", opt={"public": True, "problems": [401]}, summary="Log in with e-mail and password"
    )
    async def login(
        self,
        data: JSONBody[LoginInput],
        db_session: DbSession,
        runtime: AppRuntime,
    ) -> SessionOut:
        life = SessionLife.of(runtime.settings.auth)
        issued, membership = await login(
            db_session, data.email, data.password, data.agency_id, life
        )
        return _session_out(issued, membership)

    @post(
        "/logout",
        opt={"problems": [409]},
        status_code=HTTP_204_NO_CONTENT,
        summary="End this login session (and clear the browser's session cookies)",
    )
    async def logout(
        self,
        credentials: NamedDependency[CredentialService],
    ) -> Response[None]:
        await credentials.logout()
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=cleared_cookies())

    @post(
        "/session/renew",
        operation_id="renewSession",
        opt={"problems": [409]},
        status_code=201,
        summary="Trade this session for a fresh one (the old token ends now)",
    )
    async def renew(
        self,
        credentials: NamedDependency[CredentialService],
        request: Request,  # type: ignore[type-arg]
        subject: CurrentSubject,
        runtime: AppRuntime,
    ) -> Response[SessionOut]:
        issued = await credentials.renew(SessionLife.of(runtime.settings.auth))
        expires_at = issued.credential.expires_at
        assert expires_at is not None and subject.user_id is not None
        body = SessionOut(
            token=issued.token,
            expires_at=expires_at,
            renewable_until=issued.credential.renewable_until,
            agency_id=subject.agency_id,
            user_id=subject.user_id,
            role=SessionRole(subject.role or SessionRole.CLIENT),
        )
        # A browser signed in by cookie gets the new token as cookies too.
        by_cookie = "authorization" not in request.headers
        key = runtime.settings.auth.secret_key.get_secret_value()
        cookies = session_cookies(issued.token, expires_at, key) if by_cookie else []
        return Response(body, status_code=201, cookies=cookies)

    @post(
        "/password",
        operation_id="changePassword",
        # Each attempt costs a password hash: counted per address like a login.
        opt={"problems": [409], "rate_limit": True},
        status_code=HTTP_204_NO_CONTENT,
        summary="Change your password (your other sessions end, in every agency)",
    )
    async def change_password(
        self, data: JSONBody[PasswordChange], credentials: NamedDependency[CredentialService]
    ) -> None:
        """A wrong current password is a 422 naming ``current_password`` (code
        ``wrong_password``); this session stays, every other one of yours ends."""
        await credentials.change_password(data.current_password, data.new_password)

    @get("/me", operation_id="getMe", summary="Who the credential belongs to and what it may do")
    async def me(
        self,
        credentials: NamedDependency[CredentialService],
        subject: CurrentSubject,
    ) -> MeOut:
        return _me(subject, await credentials.person())

    @put(
        "/me/locale",
        opt={"problems": [409]},
        summary="Choose the language of the API's messages and e-mails to you",
    )
    async def choose_locale(
        self,
        data: JSONBody[LocaleChoice],
        credentials: NamedDependency[CredentialService],
        subject: CurrentSubject,
    ) -> MeOut:
        """It wins over each request's Accept-Language (null gives the choice back to it)."""
        return _me(subject, await credentials.choose_locale(data.locale))


class ApiTokenController(Controller):
    path = "/api-tokens"
    tags = ["API tokens"]
    opt = {"permission": Permission.TOKENS_MANAGE}
    dependencies = {"credentials": provide_service(CredentialService)}

    @post(
        operation_id="createApiToken",
        summary="Create an API token (its secret is shown only in this answer)",
    )
    async def create_token(
        self,
        data: JSONBody[ApiTokenCreate],
        credentials: NamedDependency[CredentialService],
        idempotency: IdempotencyGuard,
    ) -> ApiTokenCreated:
        issued = await credentials.create_api_token(data.name, data.scopes, data.expires_in_days)
        return ApiTokenCreated(
            **msgspec.structs.asdict(_token_out(issued.credential)), token=issued.token
        )

    @get(operation_id="listApiTokens", summary="List API tokens")
    async def list_tokens(
        self,
        credentials: NamedDependency[CredentialService],
        page: Paging,
    ) -> ApiTokenPage:
        rows, cursor = await credentials.list_api_tokens(page)
        return ApiTokenPage(items=[_token_out(c) for c in rows], next_cursor=cursor)

    @get("/{token_id:uuid}", operation_id="getApiToken", summary="Get an API token")
    async def get_token(
        self,
        token_id: FromPath[uuid.UUID],
        credentials: NamedDependency[CredentialService],
    ) -> ApiTokenOut:
        return _token_out(await credentials.get_api_token(token_id))

    @post(
        "/{token_id:uuid}/revoke",
        operation_id="revokeApiToken",
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke an API token",
    )
    async def revoke_token(
        self,
        token_id: FromPath[uuid.UUID],
        credentials: NamedDependency[CredentialService],
    ) -> None:
        await credentials.revoke_api_token(token_id)


class InvitationAcceptController(Controller):
    """Accepting an invitation opens a session: a sign-in, so it lives with the others
    (sessions depend on members, never the other way)."""

    path = "/invitations"
    tags = ["Members"]

    @post(
        "/accept",
        operation_id="acceptInvitation",
        opt={"public": True, "problems": [403, 404]},
        summary="Accept an invitation (no login needed: the token is the proof)",
        status_code=201,
    )
    async def accept(
        self,
        data: JSONBody[InvitationAccept],
        db_session: DbSession,
        runtime: AppRuntime,
    ) -> SessionOut:
        bearer = parse_bearer(data.token, INVITATION_PREFIX)
        if bearer is None:
            raise NotFound("This invitation does not exist, was used, revoked or has expired.")
        membership = await accept_invitation(db_session, bearer, data.name, data.password)
        issued, _ = await start_session(
            db_session, membership, SessionLife.of(runtime.settings.auth)
        )
        return _session_out(issued, membership)
