from __future__ import annotations

from litestar import Controller, Response, get, patch
from litestar.params import JSONBody

from agency.access.permissions import Permission
from agency.kernel.deps import CurrentSubject, DbSession, IfMatch
from agency.kernel.http import etag
from agency.tenant.schemas import AgencyOut, AgencyUpdate
from agency.tenant.service import AgencyService


class AgencyController(Controller):
    path = "/agency"
    tags = ["Agency"]

    @get(opt={"permission": Permission.AGENCY_READ}, summary="The caller's agency")
    async def get_agency(
        self, db_session: DbSession, subject: CurrentSubject
    ) -> Response[AgencyOut]:
        agency = await AgencyService(db_session, subject).current()
        return Response(AgencyOut.of(agency), headers={"ETag": etag(agency.version)})

    @patch(
        opt={"permission": Permission.AGENCY_MANAGE},
        summary="Rename the agency, or set the origins its sign-ins may land on",
    )
    async def update_agency(
        self,
        data: JSONBody[AgencyUpdate],
        db_session: DbSession,
        subject: CurrentSubject,
        if_match: IfMatch,
    ) -> Response[AgencyOut]:
        agency = await AgencyService(db_session, subject).update(data, if_match)
        return Response(AgencyOut.of(agency), headers={"ETag": etag(agency.version)})
