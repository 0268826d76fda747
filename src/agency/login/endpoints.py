from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Permission
from agency.auth.cookies import cleared_cookies, session_cookies
from agency.auth.schemas import SessionOut, SessionRole
from agency.auth.service import CredentialService, SessionLife
from agency.client.service import Inviter
from agency.kernel.deps import (
    AppRuntime,
    DbSession,
    IdempotencyGuard,
    IfMatch,
    Paging,
    provide_runtime_service,
    provide_service,
    request_runtime,
    request_session,
    request_subject,
)
from agency.kernel.http import etag
from agency.kernel.i18n import negotiate
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.login.flow import end_session_url, finish, start
from agency.login.links import (
    client_inviter,
    redeem,
    request_magic_link,
    staff_invitation_mailer,
)
from agency.login.passwords import request_password_reset, reset_password
from agency.login.providers import ProviderService
from agency.login.schemas import (
    Accepted,
    MagicLinkRedeem,
    MagicLinkRequest,
    PasswordForgotten,
    PasswordReset,
    ProviderCreate,
    ProviderLogoutOut,
    ProviderOut,
    ProviderPage,
    ProviderUpdate,
)
from agency.member.service import InvitationMailer


def provide_invitation_mailer(request: Request[Any, Any, Any]) -> InvitationMailer:
    """``mail_invitation``: how the invitation route mails a new staff member their token."""
    return staff_invitation_mailer(
        request_session(request), request_subject(request), request_runtime(request)
    )


def provide_client_inviter(request: Request[Any, Any, Any]) -> Inviter:
    """``invite_client``: how a route that adds a client member mails them their way in."""
    return client_inviter(
        request_session(request), request_subject(request), request_runtime(request)
    )


class PasswordResetController(Controller):
    path = "/auth/password"
    tags = ["Authentication"]

    @post(
        "/forgotten",
        opt={"public": True},
        status_code=HTTP_202_ACCEPTED,
        summary="E-mail a link to choose a new password",
    )
    async def forgotten(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordForgotten],
        db_session: DbSession,
        runtime: AppRuntime,
    ) -> Accepted:
        """The answer is the same whether or not the address has an account. The e-mail is
        in the person's language, else the request's (Accept-Language)."""
        locale = negotiate(request.headers.get("accept-language"))
        await request_password_reset(db_session, runtime, data.email, data.agency_id, locale)
        return Accepted(detail="If this address has an account, a link is on its way.")

    @post(
        "/reset",
        opt={"public": True, "problems": [401]},
        status_code=HTTP_204_NO_CONTENT,
        summary="Choose a new password with the e-mailed link (every session ends)",
    )
    async def reset(self, data: JSONBody[PasswordReset], db_session: DbSession) -> None:
        await reset_password(db_session, data.token, data.new_password)


class MagicLinkController(Controller):
    path = "/auth/magic-link"
    tags = ["Authentication"]

    @post(
        operation_id="requestMagicLink",
        opt={"public": True},
        status_code=HTTP_202_ACCEPTED,
        summary="E-mail a client member a single-use sign-in link",
    )
    async def request_link(
        self, data: JSONBody[MagicLinkRequest], db_session: DbSession, runtime: AppRuntime
    ) -> Accepted:
        """The answer is the same whether or not the address belongs to a client member."""
        await request_magic_link(db_session, runtime, data.email, data.agency_id)
        return Accepted(detail="If this address may sign in, a link is on its way.")

    @post(
        "/redeem",
        operation_id="redeemMagicLink",
        opt={"public": True, "problems": [401]},
        summary="Trade a sign-in link for a client member's session",
    )
    async def redeem_link(
        self, data: JSONBody[MagicLinkRedeem], db_session: DbSession, runtime: AppRuntime
    ) -> SessionOut:
        issued, subject = await redeem(
            db_session, data.token, SessionLife.of(runtime.settings.auth)
        )
        assert issued.credential.expires_at is not None and subject.user_id is not None
        return SessionOut(
            token=issued.token,
            expires_at=issued.credential.expires_at,
            renewable_until=issued.credential.renewable_until,
            agency_id=subject.agency_id,
            user_id=subject.user_id,
            role=SessionRole.CLIENT,
        )


def provider_service(session: AsyncSession, subject: Subject, runtime: Runtime) -> ProviderService:
    return ProviderService(session, subject, runtime.secrets, runtime.outbound)


class LoginProviderController(Controller):
    path = "/login-providers"
    tags = ["Sign-in providers"]
    opt = {"permission": Permission.BRANDS_WRITE}
    dependencies = {"providers": provide_runtime_service(provider_service)}

    @post(
        opt={"problems": [404]},
        summary="Set up a brand's (or, with no brand_id, the agency's) identity provider",
    )
    async def create_login_provider(
        self,
        data: JSONBody[ProviderCreate],
        providers: NamedDependency[ProviderService],
        runtime: AppRuntime,
        idempotency: IdempotencyGuard,
    ) -> Response[ProviderOut]:
        provider = await providers.create(data)
        return Response(
            ProviderOut.of(provider, runtime.settings.server.public_url),
            status_code=201,
            headers={"ETag": etag(provider.version)},
        )

    @get(summary="The agency's identity providers")
    async def list_login_providers(
        self, providers: NamedDependency[ProviderService], runtime: AppRuntime, page: Paging
    ) -> ProviderPage:
        rows, cursor = await providers.list(page)
        url = runtime.settings.server.public_url
        return ProviderPage(items=[ProviderOut.of(p, url) for p in rows], next_cursor=cursor)

    @get("/{login_provider_id:uuid}", summary="An identity provider (never its secret)")
    async def get_login_provider(
        self,
        login_provider_id: FromPath[uuid.UUID],
        providers: NamedDependency[ProviderService],
        runtime: AppRuntime,
    ) -> Response[ProviderOut]:
        provider = await providers.get(login_provider_id)
        return Response(
            ProviderOut.of(provider, runtime.settings.server.public_url),
            headers={"ETag": etag(provider.version)},
        )

    @patch("/{login_provider_id:uuid}", summary="Change an identity provider (fields sent)")
    async def update_login_provider(
        self,
        login_provider_id: FromPath[uuid.UUID],
        data: JSONBody[ProviderUpdate],
        providers: NamedDependency[ProviderService],
        runtime: AppRuntime,
        if_match: IfMatch,
    ) -> Response[ProviderOut]:
        provider = await providers.update(login_provider_id, data, if_match)
        return Response(
            ProviderOut.of(provider, runtime.settings.server.public_url),
            headers={"ETag": etag(provider.version)},
        )

    @delete("/{login_provider_id:uuid}", summary="Remove an identity provider")
    async def remove_login_provider(
        self, login_provider_id: FromPath[uuid.UUID], providers: NamedDependency[ProviderService]
    ) -> None:
        await providers.remove(login_provider_id)


class ProviderSignInController(Controller):
    path = "/auth/providers"
    tags = ["Authentication"]

    @get(
        "/{agency_id:uuid}/{login_provider_id:uuid}/sign-in",
        operation_id="startProviderSignIn",
        opt={"public": True, "problems": [502]},
        status_code=303,
        summary="Send the browser to the identity provider to sign in",
    )
    async def sign_in(
        self,
        agency_id: FromPath[uuid.UUID],
        login_provider_id: FromPath[uuid.UUID],
        db_session: DbSession,
        runtime: AppRuntime,
        return_to: Annotated[
            str | None,
            QueryParameter(
                max_length=2000,
                description="Where the browser lands afterwards: an origin the agency allows "
                "(default: its frontend).",
            ),
        ] = None,
        mode: Annotated[
            Literal["cookie", "bearer"],
            QueryParameter(
                description="`cookie`: the session is set as an HttpOnly cookie; `bearer`: "
                "the token is handed over in the landing URL's fragment.",
            ),
        ] = "cookie",
    ) -> Redirect:
        target = return_to or runtime.settings.mail.frontend_url or ""
        url = await start(db_session, runtime, agency_id, login_provider_id, target, mode)
        return Redirect(url, status_code=303)

    @get(
        "/callback",
        operation_id="finishProviderSignIn",
        opt={"public": True, "problems": [401, 502]},
        status_code=303,
        summary="Where identity providers send the browser back (the redirect URI)",
    )
    async def callback(
        self,
        db_session: DbSession,
        runtime: AppRuntime,
        # "state" is a name Litestar reserves for the app's state.
        oauth_state: Annotated[str | None, QueryParameter(name="state", max_length=300)] = None,
        code: Annotated[str | None, QueryParameter(max_length=4000)] = None,
        iss: Annotated[str | None, QueryParameter(max_length=2000)] = None,
        error: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> Redirect:
        done = await finish(db_session, runtime, oauth_state, code, iss, error)
        expires_at = done.issued.credential.expires_at
        assert expires_at is not None
        if done.mode == "bearer":
            fragment = urlencode({"token": done.issued.token, "expires_at": expires_at.isoformat()})
            return Redirect(f"{done.return_to}#{fragment}", status_code=303)
        key = runtime.settings.auth.secret_key.get_secret_value()
        return Redirect(
            done.return_to,
            status_code=303,
            cookies=session_cookies(done.issued.token, expires_at, key),
        )


class ProviderLogoutController(Controller):
    path = "/auth/logout/provider"
    tags = ["Authentication"]
    dependencies = {"credentials": provide_service(CredentialService)}

    @post(
        operation_id="logoutFromProvider",
        opt={"problems": [409]},
        status_code=200,
        summary="End this session, and say where to end the identity provider's session",
    )
    async def logout_everywhere(
        self,
        credentials: NamedDependency[CredentialService],
        db_session: DbSession,
        runtime: AppRuntime,
        return_to: Annotated[
            str | None,
            QueryParameter(
                max_length=2000,
                description="Where the provider sends the browser back: an origin the agency "
                "allows, registered with the provider as a post-logout redirect URI.",
            ),
        ] = None,
    ) -> Response[ProviderLogoutOut]:
        credential = await credentials.logout()
        url = await end_session_url(db_session, runtime, credential, return_to)
        return Response(ProviderLogoutOut(end_session_url=url), cookies=cleared_cookies())
