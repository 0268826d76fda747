from __future__ import annotations

from litestar import Controller, Response, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody

from agency.access.permissions import Permission
from agency.kernel.deps import IfMatch, provide_service
from agency.kernel.http import etag
from agency.tenant.schemas import AgencyOut, AgencyUpdate
from agency.tenant.service import AgencyService


class AgencyController(Controller):
    path = "/agency"
    tags = ["Agency"]
    dependencies = {"agencies": provide_service(AgencyService)}

    @get(opt={"permission": Permission.AGENCY_READ}, summary="The caller's agency")
    async def get_agency(
        self,
        agencies: NamedDependency[AgencyService],
    ) -> Response[AgencyOut]:
        agency = await agencies.current()
        return Response(AgencyOut.of(agency), headers={"ETag": etag(agency.version)})

    @patch(
        opt={"permission": Permission.AGENCY_MANAGE},
        summary="Rename the agency, or set the origins its sign-ins may land on",
    )
    async def update_agency(
        self,
        data: JSONBody[AgencyUpdate],
        agencies: NamedDependency[AgencyService],
        if_match: IfMatch,
    ) -> Response[AgencyOut]:
        agency = await agencies.update(data, if_match)
        return Response(AgencyOut.of(agency), headers={"ETag": etag(agency.version)})
