from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Permission
from agency.access.secrets import parse_bearer
from agency.channel.connect import STATE_PREFIX, ConnectService, InvalidState
from agency.channel.landing import land
from agency.channel.schemas import (
    AccountSelection,
    ChannelOut,
    ChannelPage,
    ConnectionOut,
    ConnectionStart,
    ConnectLinkCreate,
    ConnectLinkCreated,
    ConnectLinkOut,
    ConnectLinkPage,
    LinkConnectionStart,
    NetworkList,
    NetworkOut,
)
from agency.channel.service import (
    ChannelService,
    ConnectLinkService,
    DeadLink,
    open_connect_link,
)
from agency.connector.base import AuthKind
from agency.kernel.deps import (
    AppRuntime,
    CurrentSubject,
    DbSession,
    Paging,
    provide_runtime_service,
)
from agency.kernel.errors import AppError, InvalidInput
from agency.kernel.i18n import Text
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant

NetworkFilter = Annotated[
    str | None, QueryParameter(max_length=40, description="Only this network.")
]


def connect_service(session: AsyncSession, subject: Subject, runtime: Runtime) -> ConnectService:
    return ConnectService(
        session, subject, runtime, ChannelService(session, subject, runtime).refresh
    )


@get("/networks", tags=["Channels"], summary="Networks installed, with their limits")
async def list_networks(runtime: AppRuntime, subject: CurrentSubject) -> NetworkList:
    """What a composer needs: capabilities, text and media limits, how each network connects."""
    items = []
    for name in runtime.connectors:
        cls = runtime.connectors[name]
        config = runtime.settings.connectors.network(name)
        configured = cls.auth_kind is not AuthKind.OAUTH2 or bool(config.client_id)
        items.append(NetworkOut(**cls.describe(), configured=configured))
    return NetworkList(items=items)


class BrandChannelController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Channels"]
    dependencies = {
        "channels": provide_runtime_service(ChannelService),
        "connect_links": provide_runtime_service(ConnectLinkService),
        "connect": provide_runtime_service(connect_service),
    }

    @get("/channels", opt={"permission": Permission.BRANDS_READ}, summary="A brand's channels")
    async def list_channels(
        self,
        brand_id: FromPath[uuid.UUID],
        channels: NamedDependency[ChannelService],
        page: Paging,
        network: NetworkFilter = None,
    ) -> ChannelPage:
        rows, cursor = await channels.list_for_brand(brand_id, page, network)
        return ChannelPage(items=[ChannelOut.of(c) for c in rows], next_cursor=cursor)

    @post(
        "/connections",
        opt={"permission": Permission.CHANNELS_CONNECT, "problems": [502]},
        summary="Connect accounts: returns the network's authorization URL",
        status_code=201,
    )
    async def start_connection(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[ConnectionStart],
        connect: NamedDependency[ConnectService],
    ) -> ConnectionOut:
        """OAuth networks: send the user to ``authorization_url``; the network sends them back
        to the callback. Bluesky: send ``identifier`` and an app password; the channel is
        created at once. Mastodon: send the account's ``server_url``."""
        connection, url = await connect.start(brand_id, data)
        return ConnectionOut.of(connection, url)

    @post(
        "/connect-links",
        opt={"permission": Permission.CHANNELS_CONNECT},
        summary="Create a link the client's admin follows to grant access (shown once)",
        status_code=201,
    )
    async def create_connect_link(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[ConnectLinkCreate],
        connect_links: NamedDependency[ConnectLinkService],
    ) -> ConnectLinkCreated:
        link, url = await connect_links.create(brand_id, data)
        created = ConnectLinkCreated.of(link)
        created.url = url
        return created

    @get(
        "/connect-links",
        opt={"permission": Permission.CHANNELS_CONNECT},
        summary="A brand's connect links",
    )
    async def list_connect_links(
        self,
        brand_id: FromPath[uuid.UUID],
        connect_links: NamedDependency[ConnectLinkService],
        page: Paging,
    ) -> ConnectLinkPage:
        rows, cursor = await connect_links.list(brand_id, page)
        return ConnectLinkPage(items=[ConnectLinkOut.of(x) for x in rows], next_cursor=cursor)


class ChannelController(Controller):
    path = "/channels"
    tags = ["Channels"]
    dependencies = {"channels": provide_runtime_service(ChannelService)}

    @get("/{channel_id:uuid}", opt={"permission": Permission.BRANDS_READ}, summary="A channel")
    async def get_channel(
        self,
        channel_id: FromPath[uuid.UUID],
        channels: NamedDependency[ChannelService],
    ) -> ChannelOut:
        channel = await channels.get(channel_id)
        return ChannelOut.of(channel)

    @post(
        "/{channel_id:uuid}/refresh",
        opt={"permission": Permission.CHANNELS_CONNECT, "problems": [502]},
        summary="Renew the channel's token now",
        status_code=200,
    )
    async def refresh_channel(
        self,
        channel_id: FromPath[uuid.UUID],
        channels: NamedDependency[ChannelService],
    ) -> ChannelOut:
        """A refused refresh is not an error of this request: the channel comes back
        ``needs_reconnect`` with the network's words in ``last_error``."""
        channel = await channels.get(channel_id)
        await channels.refresh_or_fail(channel)
        return ChannelOut.of(channel)

    @post(
        "/{channel_id:uuid}/disconnect",
        opt={"permission": Permission.CHANNELS_CONNECT},
        summary="Forget the channel's tokens (it stays, revoked, for its history)",
        status_code=200,
    )
    async def disconnect_channel(
        self,
        channel_id: FromPath[uuid.UUID],
        channels: NamedDependency[ChannelService],
    ) -> ChannelOut:
        return ChannelOut.of(await channels.disconnect(channel_id))


class ConnectionController(Controller):
    path = "/connections"
    tags = ["Channels"]
    opt = {"permission": Permission.CHANNELS_CONNECT}
    dependencies = {"connect": provide_runtime_service(connect_service)}

    @get("/{connection_id:uuid}", summary="Where a connection stands")
    async def get_connection(
        self,
        connection_id: FromPath[uuid.UUID],
        connect: NamedDependency[ConnectService],
    ) -> ConnectionOut:
        connection = await connect.connection(connection_id)
        return ConnectionOut.of(connection)

    @post(
        "/{connection_id:uuid}/select",
        summary="Pick the accounts to connect (Pages, organisations)",
        status_code=200,
    )
    async def select_accounts(
        self,
        connection_id: FromPath[uuid.UUID],
        data: JSONBody[AccountSelection],
        connect: NamedDependency[ConnectService],
    ) -> ConnectionOut:
        return ConnectionOut.of(await connect.select(connection_id, data.account_ids))


class ConnectLinkController(Controller):
    path = "/connect-links"
    tags = ["Channels"]
    dependencies = {"connect_links": provide_runtime_service(ConnectLinkService)}

    @post(
        "/{link_id:uuid}/revoke",
        opt={"permission": Permission.CHANNELS_CONNECT},
        summary="Revoke a connect link",
        status_code=200,
    )
    async def revoke_connect_link(
        self,
        link_id: FromPath[uuid.UUID],
        connect_links: NamedDependency[ConnectLinkService],
    ) -> ConnectLinkOut:
        return ConnectLinkOut.of(await connect_links.revoke(link_id))


# -- public: the network's callback and the client's connect link --------------------------------


@get(
    "/oauth/callback/{network:str}",
    operation_id="finishConnection",
    opt={"public": True, "problems": [400, 502]},
    tags=["Channels"],
    summary="Where the network sends the user back (state checked, then the code exchanged)",
    responses={303: ResponseSpec(None, description="Back to the connection's return_url.")},
)
async def oauth_callback(
    request: Request[Any, Any, Any],
    runtime: AppRuntime,
    network: FromPath[str],
    oauth_state: Annotated[str, QueryParameter(name="state", max_length=300)],
    code: Annotated[str | None, QueryParameter(max_length=2000)] = None,
    error: Annotated[str | None, QueryParameter(max_length=200)] = None,
    error_description: Annotated[str | None, QueryParameter(max_length=1000)] = None,
) -> Response[ConnectionOut]:
    """Runs in its own transaction: a failure the network reports is recorded on the
    connection (so the user sees it) and still answered as an error. A connection started
    with a ``return_url`` sends the browser back there (303) with the outcome in the query:
    ``connection_id``, ``status``, each ``channel_id``, and ``problem`` (its type) if it
    failed. A browser (``Accept: text/html``) without one gets a page in the brand's
    language; an API client, the connection as JSON."""
    bearer = parse_bearer(oauth_state, STATE_PREFIX)
    unknown = InvalidState(Text("This authorization does not belong to a connection we started."))
    if bearer is None:
        return land(request, None, None, None, unknown)
    subject = Subject(agency_id=bearer.agency_id, kind="system")
    async with runtime.session() as session:
        await bind_tenant(session, bearer.agency_id)
        service = connect_service(session, subject, runtime)
        try:
            connection = await service.find_by_state(network, bearer)
        except InvalidState as refused:
            # Used or expired: still its own, so the browser goes back where it was to go.
            known = await service.known_by_state(network, bearer)
            if known is None:
                return land(request, None, None, None, refused)
            brand = await service.brand(known.brand_id)
            return land(request, brand, known, known.return_url, refused)
        brand = await service.brand(connection.brand_id)
        try:
            await service.complete(connection, code, error, error_description)
        except AppError as failed:
            await session.commit()  # keeps the failure on the connection, nothing else
            return land(request, brand, connection, connection.return_url, failed)
        except Exception:
            await session.commit()
            raise
        await session.commit()
        return land(request, brand, connection, connection.return_url)


@get(
    "/connect/{token:str}",
    opt={"public": True, "problems": [404, 422, 502]},
    tags=["Channels"],
    summary="A connect link: redirects the client's admin to the network",
    status_code=303,
    responses={
        303: ResponseSpec(
            None,
            description="To the network's consent page (Location), or a dead link's "
            "return_url with its problem.",
        )
    },
)
async def follow_connect_link(
    request: Request[Any, Any, Any],
    runtime: AppRuntime,
    token: FromPath[str],
    db_session: DbSession,
) -> Response[Any]:
    """OAuth networks at their usual server only: the redirect goes nowhere a link's URL can
    choose. Bluesky (an app password) and a Mastodon account on another server: POST to the
    same URL, with the ``server_url``. A link that is dead (revoked, expired) sends the
    browser back to its ``return_url`` with ``problem``, or shows a page in the brand's
    language (``Accept: text/html``), or answers 404."""
    try:
        subject, link = await open_connect_link(db_session, token)
    except DeadLink as dead:
        if dead.found is None:
            return land(request, None, None, None, dead)
        subject, link = dead.found
        brand = await connect_service(db_session, subject, runtime).brand(link.brand_id)
        return land(request, brand, None, link.return_url, dead)
    if "server_url" in request.query_params:
        # A query parameter anyone can add to a shared link would make us an open redirect.
        raise InvalidInput(
            "This link does not take a server in its URL: POST the server_url to it instead.",
            errors=[
                {
                    "field": "server_url",
                    "source": "query",
                    "code": "unknown_field",
                    "message": "not accepted in the query; POST it",
                }
            ],
        )
    start = ConnectionStart(network=link.network)
    service = connect_service(db_session, subject, runtime)
    # A password network (Bluesky) is refused by start() with a 422 saying to POST instead.
    _, url = await service.start(link.brand_id, start, link)
    assert url is not None
    return Redirect(path=url, status_code=303)


@post(
    "/connect/{token:str}",
    opt={"public": True, "problems": [404, 422, 502]},
    tags=["Channels"],
    summary="A connect link: start connecting (returns the authorization URL, or the channel)",
    status_code=201,
)
async def use_connect_link(
    runtime: AppRuntime,
    token: FromPath[str],
    data: JSONBody[LinkConnectionStart],
    db_session: DbSession,
) -> Response[ConnectionOut]:
    subject, link = await open_connect_link(db_session, token)
    start = ConnectionStart(
        network=link.network,
        server_url=data.server_url,
        identifier=data.identifier,
        app_password=data.app_password,
    )
    service = connect_service(db_session, subject, runtime)
    connection, url = await service.start(link.brand_id, start, link)
    return Response(ConnectionOut.of(connection, url), status_code=201)
