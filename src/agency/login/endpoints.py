from __future__ import annotations

from datetime import timedelta

from litestar import Controller, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from agency.auth.schemas import SessionOut
from agency.kernel.deps import AppRuntime, DbSession
from agency.login.links import redeem, request_magic_link
from agency.login.schemas import Accepted, MagicLinkRedeem, MagicLinkRequest


class MagicLinkController(Controller):
    path = "/auth/magic-link"
    tags = ["Authentication"]

    @post(
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
        opt={"public": True, "problems": [401]},
        summary="Trade a sign-in link for a client member's session",
    )
    async def redeem_link(
        self, data: JSONBody[MagicLinkRedeem], db_session: DbSession, runtime: AppRuntime
    ) -> SessionOut:
        ttl = timedelta(hours=runtime.settings.auth.session_ttl_hours)
        issued, subject = await redeem(db_session, data.token, ttl)
        assert issued.credential.expires_at is not None and subject.user_id is not None
        return SessionOut(
            token=issued.token,
            expires_at=issued.credential.expires_at,
            agency_id=subject.agency_id,
            user_id=subject.user_id,
            role="client",
        )
