"""Connecting a brand's accounts: OAuth (fixed or per-server), app passwords, connect links.

An OAuth connection is one :class:`Connection` row from the authorization URL to the
channels. Its ``state`` names the agency and the row (so the public callback finds it under
that agency's RLS) and carries a secret of which only a hash is kept; PKCE's verifier is
encrypted. A state is good once, for a few minutes, for the network it was made for.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import BearerSecret, hash_secret, new_bearer, secret_matches
from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.channel.credentials import from_plain, seal, to_plain
from agency.channel.models import Channel, Connection, ConnectLink, OAuthApp
from agency.channel.repository import (
    ChannelRepository,
    ConnectionRepository,
    ConnectLinkRepository,
    OAuthAppRepository,
)
from agency.channel.schemas import ChannelHealth, ConnectionStart
from agency.connector.base import (
    Account,
    AccountKind,
    AuthKind,
    Connector,
    ConnectorContext,
    Credentials,
)
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    RateLimited,
    Transient,
)
from agency.connector.oauth import OAuthClient, authorization_request, exchange_code
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import AppError, InvalidInput, NotFound
from agency.kernel.i18n import N_
from agency.kernel.outbound import OutboundRefused, check_url, refusal_in
from agency.kernel.tenancy import Subject
from agency.tenant.origins import require_allowed_origin

if TYPE_CHECKING:
    from agency.connector.base import OAuthMetadata
    from agency.kernel.runtime import Runtime

STATE_PREFIX = "acs"


class InvalidState(AppError):
    status_code = 400
    type_slug = "invalid-state"
    title = N_("Invalid or expired authorization state")
    explanation = N_(
        "The network sent the browser back with a state this API did not issue, one already "
        "used, or one older than the connection's time limit. Start connecting again."
    )


class AuthorizationFailed(AppError):
    status_code = 400
    type_slug = "authorization-failed"
    title = N_("The network did not grant access")
    explanation = N_(
        "The social network refused the authorization (the person declined, or the app lacks "
        "a permission), or its answer gave access to no account. The connection records what "
        "the network said; connect again once the cause is fixed."
    )


class NetworkUnavailable(AppError):
    status_code = 502
    type_slug = "network-unavailable"
    title = N_("The network could not be reached")
    explanation = N_(
        "The social network (or the server named) did not answer, answered with an error of "
        "its own, or is limiting our calls. Nothing was changed; try again later."
    )


def failure_for(error: ConnectorError, server_url: str | None = None) -> AppError:
    """The problem for a failed call; ``server_url``: the caller chose the server.

    A server the caller chose is answered in our words only (what it did, its HTTP status),
    never with what it said: the caller could have named a service that should stay quiet.
    """
    refusal = refusal_in(error)
    if refusal is not None:
        return refused_server(server_url or refusal.url, refusal)
    if server_url is not None:
        return _failure_at(server_url, error)
    if isinstance(error, Transient):
        return NetworkUnavailable(error.message)
    return AuthorizationFailed(error.message)


def refused_server(server_url: str, refusal: OutboundRefused) -> InvalidInput:
    return InvalidInput(
        f"The server {server_url} cannot be used: it {refusal.reason}.",
        errors=[{"field": "server_url", "message": f"it {refusal.reason}"}],
    )


def _failure_at(server_url: str, error: ConnectorError) -> AppError:
    status = error.status
    if isinstance(error, RateLimited):
        return NetworkUnavailable(f"{server_url} is limiting our calls; try again later.")
    if isinstance(error, Transient | OutcomeUnknown):
        if status is not None:
            return NetworkUnavailable(f"{server_url} answered HTTP {status}; try again later.")
        if isinstance(error.__cause__, httpx.TransportError):
            return NetworkUnavailable(f"{server_url} did not answer.")
        return NetworkUnavailable(f"{server_url} did not answer as the network's API does.")
    if status is None:
        return AuthorizationFailed(f"{server_url}: {error.message}")  # our own words
    if isinstance(error, AuthExpired) or status in (401, 403):
        return AuthorizationFailed(f"{server_url} refused the credentials (HTTP {status}).")
    return AuthorizationFailed(f"{server_url} refused the request (HTTP {status}).")


def check_server_url(runtime: Runtime, server_url: str | None) -> None:
    """Refuse, before any call, a server the outbound policy would refuse anyway."""
    if server_url is not None:
        try:
            check_url(server_url, runtime.outbound)
        except OutboundRefused as exc:
            raise refused_server(server_url, exc) from None


def http_for(runtime: Runtime, server_url: str | None) -> httpx.AsyncClient:
    """A server the caller named is called under the outbound policy; configured ones not."""
    return runtime.guarded_http if server_url is not None else runtime.http


def effective_oauth(runtime: Runtime, cls: type[Connector], base_url: str) -> OAuthMetadata | None:
    """The network's OAuth endpoints, with the configured overrides applied."""
    meta = cls.oauth_metadata(base_url)
    if meta is None:
        return None
    config = runtime.settings.connectors.network(cls.network)
    return dataclasses.replace(
        meta,
        authorize_url=config.authorize_url or meta.authorize_url,
        token_url=config.token_url or meta.token_url,
        revocation_url=config.revocation_url or meta.revocation_url,
    )


def connector_class(runtime: Runtime, network: str) -> type[Connector]:
    """The installed connector of ``network``, or a 422 naming the ones installed."""
    try:
        return runtime.connectors[network]
    except KeyError:
        installed = ", ".join(runtime.connectors) or "none"
        raise InvalidInput(
            "This network is not available.",
            errors=[{"field": "network", "message": f"unknown network; installed: {installed}"}],
        ) from None


def redirect_uri(runtime: Runtime, network: str) -> str:
    """The exact redirect URI registered with the network (configured, or derived)."""
    configured = runtime.settings.connectors.network(network).redirect_uri
    public = runtime.settings.server.public_url.rstrip("/")
    return configured or f"{public}/oauth/callback/{network}"


# Renews a channel's token (``ChannelService.refresh``, which builds on this module: handed
# in rather than imported).
Refresh = Callable[[Channel], Awaitable[bool]]


class ConnectService:
    def __init__(
        self, session: AsyncSession, subject: Subject, runtime: Runtime, refresh: Refresh
    ) -> None:
        self.session = session
        self.refresh = refresh
        self.subject = subject
        self.runtime = runtime
        self.settings = runtime.settings.connectors
        self.channels = ChannelRepository(session, subject)
        self.connections = ConnectionRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def connection(self, connection_id: uuid.UUID) -> Connection:
        return await self.connections.get(connection_id)

    async def brand(self, brand_id: uuid.UUID) -> Brand | None:
        """The brand a connection (or a link) is for: its page speaks the brand's language."""
        return await BrandRepository(self.session, self.subject).find(brand_id)

    # -- which network, which app ------------------------------------------------------------

    def connector_class(self, network: str) -> type[Connector]:
        return connector_class(self.runtime, network)

    def base_url(self, cls: type[Connector], server_url: str | None) -> str:
        return server_url or self.settings.network(cls.network).base_url or cls.default_base_url

    def connector(
        self, cls: type[Connector], server_url: str | None, credentials: Credentials | None
    ) -> Connector:
        config = self.settings.network(cls.network)
        base_url = self.base_url(cls, server_url)
        return cls(
            ConnectorContext(
                http=http_for(self.runtime, server_url),
                base_url=base_url,
                credentials=credentials,
                client_id=config.client_id,
                oauth=effective_oauth(self.runtime, cls, base_url),
            )
        )

    def redirect_uri(self, network: str) -> str:
        return redirect_uri(self.runtime, network)

    def oauth_metadata(self, cls: type[Connector], server_url: str | None) -> OAuthMetadata:
        meta = effective_oauth(self.runtime, cls, self.base_url(cls, server_url))
        if meta is None:
            raise InvalidInput(f"{cls.display_name} does not connect through OAuth.")
        return meta

    async def known_client(
        self, cls: type[Connector], server_url: str | None, redirect: str | None = None
    ) -> OAuthClient | None:
        """The agency's app on this network (or server), if it has one; registers nothing.

        ``redirect``: the redirect URI an authorization was made with (by default, the one
        configured now), which the code exchange must repeat (RFC 6749 section 4.1.3).
        """
        redirect = redirect or self.redirect_uri(cls.network)
        if cls.auth_kind is AuthKind.OAUTH2_PER_INSTANCE:
            base_url = self.base_url(cls, server_url)
            app = await OAuthAppRepository(self.session).find(cls.network, base_url, redirect)
            if app is None:
                return None
            return OAuthClient(
                app.client_id, self.runtime.secrets.decrypt(app.client_secret), redirect
            )
        config = self.settings.network(cls.network)
        if not config.client_id:
            return None
        secret = config.client_secret.get_secret_value() if config.client_secret else None
        return OAuthClient(config.client_id, secret, redirect)

    async def oauth_client(
        self, cls: type[Connector], server_url: str | None, redirect: str | None = None
    ) -> OAuthClient:
        """The app to authorize with: configured, or registered on the server the first time."""
        client = await self.known_client(cls, server_url, redirect)
        if client is not None:
            return client
        if cls.auth_kind is AuthKind.OAUTH2_PER_INSTANCE:
            return await self._register_app(cls, server_url)
        raise InvalidInput(
            f"{cls.display_name} is not configured on this server (no client id).",
            errors=[{"field": "network", "message": "no OAuth client configured"}],
        )

    async def _register_app(self, cls: type[Connector], server_url: str | None) -> OAuthClient:
        redirect = self.redirect_uri(cls.network)
        try:
            client_id, client_secret = await self.connector(cls, server_url, None).register_app(
                "agency", redirect, self.runtime.settings.server.public_url
            )
        except ConnectorError as exc:
            raise failure_for(exc, server_url) from exc
        app = OAuthApp(
            network=cls.network,
            server_url=self.base_url(cls, server_url),
            redirect_uri=redirect,
            client_id=client_id,
            client_secret=self.runtime.secrets.encrypt(client_secret),
        )
        async with self.session.begin_nested():
            OAuthAppRepository(self.session).add(app)
        return OAuthClient(client_id, client_secret, redirect)

    # -- starting ------------------------------------------------------------------------------

    async def start(
        self, brand_id: uuid.UUID, data: ConnectionStart, link: ConnectLink | None = None
    ) -> tuple[Connection, str | None]:
        """Begin connecting; returns the connection and the URL to send the user to."""
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        if brand.archived_at is not None:
            raise InvalidInput("This brand is archived; restore it before connecting accounts.")
        cls = self.connector_class(data.network)
        check_server_url(self.runtime, data.server_url)
        if link is None and data.return_url is not None:
            await require_allowed_origin(
                self.session, self.subject, self.runtime.settings, data.return_url, "return_url"
            )
        connection = Connection(
            id=new_id(),
            brand_id=brand.id,
            network=cls.network,
            started_by=self.subject.user_id,
            connect_link_id=link.id if link else None,
            server_url=data.server_url,
            expires_at=utcnow() + timedelta(minutes=self.settings.connection_ttl_minutes),
            return_url=link.return_url if link is not None else data.return_url,
        )
        if cls.auth_kind is AuthKind.APP_PASSWORD:
            await self._connect_with_password(connection, cls, data)
            return connection, None
        if data.identifier or data.app_password:
            raise InvalidInput(
                f"{cls.display_name} connects through OAuth: no password is ever sent here.",
                errors=[{"field": "app_password", "message": "not used by this network"}],
            )
        meta = self.oauth_metadata(cls, data.server_url)
        client = await self.oauth_client(cls, data.server_url)
        state = new_bearer(self.subject.agency_id, connection.id)
        request = authorization_request(meta, client, state.render(STATE_PREFIX))
        connection.state_hash = hash_secret(state.secret)
        connection.redirect_uri = client.redirect_uri
        if request.code_verifier:
            connection.code_verifier = self.runtime.secrets.encrypt(request.code_verifier)
        await self.connections.add(connection)
        self.audit.record(
            "connection.started", "connection", connection.id, {"network": cls.network}
        )
        return connection, request.url

    async def _connect_with_password(
        self, connection: Connection, cls: type[Connector], data: ConnectionStart
    ) -> None:
        if not data.identifier or not data.app_password:
            raise InvalidInput(
                f"{cls.display_name} connects with an identifier and an app password.",
                errors=[
                    {"field": name, "message": "required"}
                    for name in ("identifier", "app_password")
                    if not getattr(data, name)
                ],
            )
        try:
            connector = self.connector(cls, data.server_url, None)
            credentials = await connector.login(data.identifier, data.app_password)
            accounts = await self.connector(cls, data.server_url, credentials).identify()
        except ConnectorError as exc:
            raise failure_for(exc, data.server_url) from exc
        await self.connections.add(connection)
        await self._finish(connection, cls, accounts, credentials)

    # -- the callback ----------------------------------------------------------------------------

    async def known_by_state(self, network: str, state: BearerSecret) -> Connection | None:
        """The connection a state names, whatever became of it (used, expired), if the state
        is really its own: where to send the browser back when the state is refused."""
        connection = await self.connections.find(state.object_id)
        if (
            connection is None
            or connection.network != network
            or connection.state_hash is None
            or not secret_matches(state.secret, connection.state_hash)
        ):
            return None
        return connection

    async def find_by_state(self, network: str, state: BearerSecret) -> Connection:
        connection = await self.connections.get_for_update(state.object_id)
        if (
            connection is None
            or connection.network != network
            or connection.state_hash is None
            or not secret_matches(state.secret, connection.state_hash)
        ):
            raise InvalidState("This authorization does not belong to a connection we started.")
        if connection.status != "pending":
            raise InvalidState("This authorization was already used; start the connection again.")
        if connection.expires_at <= utcnow():
            raise InvalidState("This authorization expired; start the connection again.")
        return connection

    async def complete(
        self, connection: Connection, code: str | None, error: str | None, description: str | None
    ) -> None:
        """Exchange the code and create the channels; raises after marking a failure."""
        cls = self.connector_class(connection.network)
        if error or not code:
            words = f"{cls.display_name} answered: {error or 'no authorization code'}"
            self._fail(connection, words + (f" ({description})" if description else ""))
            raise AuthorizationFailed(connection.error or words)
        verifier = connection.code_verifier
        connection.code_verifier = None
        try:
            meta = self.oauth_metadata(cls, connection.server_url)
            # The configuration may have moved the callback since: the code was issued for
            # the redirect URI of the authorization.
            client = await self.oauth_client(cls, connection.server_url, connection.redirect_uri)
            credentials = await exchange_code(
                http_for(self.runtime, connection.server_url),
                meta,
                client,
                code,
                self.runtime.secrets.decrypt(verifier) if verifier else None,
            )
            accounts = await self.connector(cls, connection.server_url, credentials).identify()
        except ConnectorError as exc:
            problem = failure_for(exc, connection.server_url)
            self._fail(connection, str(problem.detail))
            raise problem from exc
        await self._finish(connection, cls, accounts, credentials)

    def _fail(self, connection: Connection, words: str) -> None:
        connection.status = "failed"
        connection.error = words[:1000]
        connection.finished_at = utcnow()
        self.audit.record("connection.failed", "connection", connection.id, {"error": words[:200]})

    async def _finish(
        self,
        connection: Connection,
        cls: type[Connector],
        accounts: list[Account],
        credentials: Credentials,
    ) -> None:
        if not accounts:
            self._fail(connection, f"{cls.display_name} gave access to no account.")
            raise AuthorizationFailed(connection.error or "")
        connection.accounts = [_public(a) for a in accounts]
        if len(accounts) == 1:
            await self._create_channels(connection, cls, accounts, credentials)
            return
        pending = {a.account_id: (a.credentials or credentials) for a in accounts}
        connection.pending_credentials = self.runtime.secrets.encrypt_json(
            {k: to_plain(v) for k, v in pending.items()}
        )
        connection.status = "awaiting_selection"

    async def select(self, connection_id: uuid.UUID, account_ids: list[str]) -> Connection:
        connection = await self.connections.get_for_update(connection_id)
        if connection is None:
            raise NotFound(f"No connection with id {connection_id} in this agency.")
        if connection.status != "awaiting_selection" or connection.pending_credentials is None:
            raise InvalidInput("This connection has no accounts waiting to be picked.")
        if connection.expires_at <= utcnow():
            raise InvalidInput("This connection expired; start it again.")
        offered = {a["account_id"]: a for a in connection.accounts}
        unknown = [a for a in account_ids if a not in offered]
        if unknown:
            raise InvalidInput(
                "Pick among the accounts offered.",
                errors=[{"field": "account_ids", "message": f"not offered: {a}"} for a in unknown],
            )
        stored: dict[str, Any] = self.runtime.secrets.decrypt_json(connection.pending_credentials)
        cls = self.connector_class(connection.network)
        for account_id in dict.fromkeys(account_ids):
            account = _account(offered[account_id])
            await self._create_channels(connection, cls, [account], from_plain(stored[account_id]))
        return connection

    async def _create_channels(
        self,
        connection: Connection,
        cls: type[Connector],
        accounts: list[Account],
        credentials: Credentials,
    ) -> None:
        for account in accounts:
            channel = await self.save_channel(connection, cls, account, credentials)
            connection.channel_ids = [*connection.channel_ids, str(channel.id)]
            if cls.refresh_after_connect and channel.refreshable:
                await self._exchange_for_long_lived(channel)
        connection.status = "completed"
        connection.pending_credentials = None
        connection.finished_at = utcnow()
        if connection.connect_link_id is not None:
            link = await ConnectLinkRepository(self.session, self.subject).find(
                connection.connect_link_id
            )
            if link is not None:
                link.used_at = connection.finished_at

    async def _exchange_for_long_lived(self, channel: Channel) -> None:
        try:
            await self.refresh(channel)
        except ConnectorError as exc:
            # Connected all the same; the sweep renews it, health says what went wrong.
            channel.last_error = exc.message[:1000]

    async def save_channel(
        self,
        connection: Connection,
        cls: type[Connector],
        account: Account,
        credentials: Credentials,
    ) -> Channel:
        """Create the channel, or refresh it when this account was connected before."""
        creds = account.credentials or credentials
        now = utcnow()
        channel = await self.channels.by_account(
            connection.brand_id, cls.network, account.account_id
        )
        action = "channel.reconnected" if channel else "channel.connected"
        if channel is None:
            channel = Channel(
                id=new_id(),
                brand_id=connection.brand_id,
                network=cls.network,
                health=ChannelHealth.OK,
            )
        channel.account_id = account.account_id
        channel.account_kind = account.kind
        channel.name = account.name[:200]
        channel.handle = account.handle
        channel.avatar_url = account.avatar_url
        channel.server_url = connection.server_url
        channel.scopes = list(creds.scopes)
        channel.token_expires_at = creds.expires_at
        channel.refreshable = bool(creds.refresh_token)
        channel.credentials = seal(self.runtime.secrets, creds)
        channel.connected_by = connection.started_by
        channel.connected_at = now
        if channel.health != ChannelHealth.OK:
            channel.health_changed_at = now
        channel.health = ChannelHealth.OK
        channel.last_error = None
        if action == "channel.connected":
            await self.channels.add(channel, conflict="This account was just connected; retry.")
        else:
            await self.channels.flush()
        self.audit.record(
            action,
            "channel",
            channel.id,
            {
                "network": cls.network,
                "account_id": account.account_id,
                "via_link": bool(connection.connect_link_id),
            },
        )
        return channel


def _public(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "handle": account.handle,
        "kind": account.kind,
        "avatar_url": account.avatar_url,
    }


def _account(public: dict[str, Any]) -> Account:
    return Account(
        account_id=public["account_id"],
        name=public["name"],
        handle=public.get("handle"),
        kind=cast(AccountKind, public.get("kind", "user")),
        avatar_url=public.get("avatar_url"),
    )


__all__ = ["STATE_PREFIX", "ConnectService"]
