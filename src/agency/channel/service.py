"""Channels once connected: listing, health, token refresh, disconnecting, connect links.

:meth:`ChannelService.call` is how the rest of the product talks to a network: it builds
the connector with the channel's decrypted credentials and, when the network answers that
the token expired, refreshes once and retries once. A refresh that fails marks the channel
``needs_reconnect`` (visible in the API and recorded as an event in the audit log).

Jobs run side by side, and two may meet the same refused token at once. Every change to
the channel after a network call (a refresh, ``needs_reconnect``) first takes the channel's
row lock and reads it again: a token another job already renewed is used, not renewed
again; a channel already marked is not marked twice (one audit event, one webhook event);
a channel disconnected meanwhile stays disconnected.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import hash_secret, new_bearer, parse_bearer, secret_matches
from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.channel.connect import (
    ConnectService,
    connector_class,
    effective_oauth,
    failure_for,
    http_for,
)
from agency.channel.credentials import seal, unseal
from agency.channel.models import Channel, ConnectLink
from agency.channel.repository import ChannelRepository, ConnectLinkRepository
from agency.channel.schemas import ChannelHealth, ConnectLinkCreate, ReconnectNeeded
from agency.connector.base import Capability, Connector, ConnectorContext
from agency.connector.errors import AuthExpired, ConnectorError, Refused, Transient
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import InvalidInput, NotFound
from agency.kernel.i18n import Text
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject, bind_tenant
from agency.tenant.origins import require_allowed_origin
from agency.webhook.events import EventType, emit

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

T = TypeVar("T")
LINK_PREFIX = "acl"
# Without a refresh token, warn this long before the token dies.
EXPIRING_WARNING = timedelta(days=7)


class ChannelService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = ChannelRepository(session, subject)
        self.audit = AuditRepository(session, subject)
        self._refreshing = asyncio.Lock()

    async def list_for_brand(
        self, brand_id: uuid.UUID, page: PageRequest, network: str | None
    ) -> tuple[Sequence[Channel], str | None]:
        await BrandRepository(self.session, self.subject).get(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id, network))

    async def get(self, channel_id: uuid.UUID) -> Channel:
        return await self.repo.get(channel_id)

    async def disconnect(self, channel_id: uuid.UUID) -> Channel:
        """Give the access back at the network where it can be, then forget the tokens.

        The channel stays, ``revoked``, for the history it carries. Whatever the network
        answers (or if it does not), the tokens are forgotten here: ``last_error`` says
        whether the access also ended at the network or must be removed by hand.
        """
        channel = await self.repo.get(channel_id)
        revoked: bool | None = None
        words = channel.last_error if channel.health == ChannelHealth.REVOKED else None
        if channel.credentials is not None and channel.network in self.runtime.connectors:
            revoked, words = await self._revoke_at_network(channel)
        channel.credentials = None
        channel.refreshable = False
        self._set_health(channel, ChannelHealth.REVOKED, words or "Disconnected by the agency.")
        await self.repo.flush()
        self.audit.record(
            "channel.disconnected",
            "channel",
            channel.id,
            {"network": channel.network, "revoked_at_network": revoked},
        )
        return channel

    async def _revoke_at_network(self, channel: Channel) -> tuple[bool | None, str]:
        """(revoked?, the words for the user); None: the network offers no way to."""
        connector = self.connector(channel)
        name = connector.display_name
        if Capability.REVOKE not in connector.capabilities:
            return None, (
                f"Disconnected by the agency; {name} does not let apps give their access "
                "back: remove it in the account's settings."
            )
        try:
            await connector.revoke(*await self._client_of(connector, channel))
        except Transient as exc:
            reason = f"{name} could not be reached ({_clause(exc.message)})"
        except ConnectorError as exc:
            reason = f"{name} refused to end the access ({_clause(exc.message)})"
        else:
            return True, f"Disconnected by the agency; access revoked at {name}."
        return False, (
            f"Disconnected by the agency; {reason}: remove the app in the account's settings."
        )

    async def _client_of(
        self, connector: Connector, channel: Channel
    ) -> tuple[str | None, str | None]:
        """The agency's app id and secret on the channel's network (or server)."""
        client = await ConnectService(
            self.session, self.subject, self.runtime, self.refresh
        ).known_client(type(connector), channel.server_url)
        return (client.client_id, client.client_secret) if client else (None, None)

    # -- calling the network -----------------------------------------------------------------

    def connector(self, channel: Channel) -> Connector:
        if channel.credentials is None:
            raise AuthExpired("This channel is disconnected; connect the account again.")
        cls = self.runtime.connectors.get(channel.network)
        if cls is None:
            raise Refused(f"The {channel.network} connector is not installed on this server.")
        config = self.runtime.settings.connectors.network(channel.network)
        base_url = channel.server_url or config.base_url or cls.default_base_url
        return cls(
            ConnectorContext(
                http=http_for(self.runtime, channel.server_url),
                base_url=base_url,
                credentials=unseal(self.runtime.secrets, channel.credentials),
                client_id=config.client_id,
                oauth=effective_oauth(self.runtime, cls, base_url),
            )
        )

    async def call(self, channel: Channel, operation: Callable[[Connector], Awaitable[T]]) -> T:
        """Run ``operation``; on an expired token refresh once and retry once."""
        if channel.health in (ChannelHealth.NEEDS_RECONNECT, ChannelHealth.REVOKED):
            raise AuthExpired(channel.last_error or "This channel needs to be reconnected.")
        used = channel.credentials
        try:
            return await operation(self.connector(channel))
        except AuthExpired as exc:
            # Calls side by side share this session: one refresh at a time, and the
            # others find the renewed token.
            async with self._refreshing:
                return await self.retry_expired(channel, operation, used, exc)

    async def retry_expired(
        self,
        channel: Channel,
        operation: Callable[[Connector], Awaitable[T]],
        used: str | None,
        expired: AuthExpired,
    ) -> T:
        """``operation`` already answered ``expired`` with the sealed credentials ``used``:
        refresh once and retry once, without asking again with the token known dead. When
        the channel's credentials changed meanwhile (another call or job renewed them), the
        new ones are tried first. The channel's row stays locked until the caller commits."""
        await self.repo.relock(channel)
        if channel.health in (ChannelHealth.NEEDS_RECONNECT, ChannelHealth.REVOKED):
            # Another job marked (or the agency disconnected) it since this one read it.
            raise AuthExpired(channel.last_error or "This channel needs to be reconnected.")
        if channel.credentials is not None and channel.credentials != used:
            try:
                return await operation(self.connector(channel))  # renewed meanwhile
            except AuthExpired as exc:
                expired = exc
        if not await self.refresh(channel):
            # Why the access cannot be renewed (the network's words on the refresh) says
            # more than the call's bare 401: the caller shows it.
            raise AuthExpired(
                channel.last_error or expired.message, status=expired.status
            ) from expired
        try:
            return await operation(self.connector(channel))
        except AuthExpired as exc:
            await self._needs_reconnect(channel, exc.message)
            await self.repo.flush()
            raise

    async def refresh(self, channel: Channel) -> bool:
        """Renew the channel's token; False (and ``needs_reconnect``) when that fails.

        Under the channel's row lock, held until the caller commits: a refresh racing
        another one waits for it, then finds the token renewed and keeps it (a refresh token
        that the network rotates is spent once, not twice)."""
        used = channel.credentials
        await self.repo.relock(channel)
        if channel.credentials is None:
            return False
        if channel.credentials != used and channel.health == ChannelHealth.OK:
            return True  # another job renewed it meanwhile
        connector = self.connector(channel)
        try:
            fresh = await connector.refresh(*await self._client_of(connector, channel))
        except AuthExpired as exc:
            await self._needs_reconnect(channel, exc.message)
            await self.repo.flush()
            return False
        except ConnectorError as exc:
            # The network is down or refused for another reason: keep the token, say why.
            channel.last_error = exc.message[:1000]
            await self.repo.flush()
            raise
        channel.credentials = seal(self.runtime.secrets, fresh)
        channel.token_expires_at = fresh.expires_at
        channel.refreshable = bool(fresh.refresh_token)
        channel.last_refreshed_at = utcnow()
        channel.last_error = None
        self._set_health(channel, ChannelHealth.OK, None)
        await self.repo.flush()
        self.audit.record("channel.refreshed", "channel", channel.id, {"network": channel.network})
        return True

    async def refresh_or_fail(self, channel: Channel) -> None:
        """For the API: a network that cannot be reached is a 502, a refusal is not an error."""
        try:
            await self.refresh(channel)
        except ConnectorError as exc:
            raise failure_for(exc, channel.server_url) from exc

    async def _needs_reconnect(self, channel: Channel, words: str) -> None:
        """Mark the channel, once: another job may have marked it (or the agency
        disconnected it) since it was read. Its callers hold the channel's row lock, taken
        with the row read again: the object is what the row says."""
        if channel.health in (ChannelHealth.NEEDS_RECONNECT, ChannelHealth.REVOKED):
            return  # the agency's systems hear it once, not at every failed retry
        if channel.credentials is None:
            return
        self._set_health(channel, ChannelHealth.NEEDS_RECONNECT, words)
        self.audit.record(
            "channel.needs_reconnect",
            "channel",
            channel.id,
            {"network": channel.network, "reason": words[:200]},
        )
        await emit(
            self.session,
            channel.agency_id,
            EventType.CHANNEL_NEEDS_RECONNECT,
            ReconnectNeeded(
                channel_id=channel.id,
                brand_id=channel.brand_id,
                network=channel.network,
                name=channel.name,
                handle=channel.handle,
                reason=words[:1000],
            ),
            self.runtime.settings.webhooks,
        )

    def _set_health(self, channel: Channel, health: ChannelHealth, words: str | None) -> None:
        if channel.health != health:
            channel.health_changed_at = utcnow()
        channel.health = health
        channel.last_error = words[:1000] if words else None


def _clause(message: str) -> str:
    """A connector's sentence, to sit in parentheses inside ours."""
    return message[:1].lower() + message[1:].rstrip(".")


class DeadLink(NotFound):
    """A connect link that does not exist, was revoked or has expired; ``found`` is the link
    when the token is really its own (to answer in its brand's language, or go back)."""

    def __init__(self, found: tuple[Subject, ConnectLink] | None) -> None:
        super().__init__(Text("This connect link does not exist, was revoked or has expired."))
        self.found = found


async def open_connect_link(session: AsyncSession, token: str) -> tuple[Subject, ConnectLink]:
    """The live connect link a token names, in its agency (bound as the system there)."""
    found = await _link_of(session, token)
    if found is None or found[1].revoked_at is not None or found[1].expires_at <= utcnow():
        raise DeadLink(found)
    return found


async def _link_of(session: AsyncSession, token: str) -> tuple[Subject, ConnectLink] | None:
    bearer = parse_bearer(token, LINK_PREFIX)
    if bearer is None:
        return None
    await bind_tenant(session, bearer.agency_id)
    subject = Subject(agency_id=bearer.agency_id, kind="system")
    link = await ConnectLinkRepository(session, subject).find(bearer.object_id)
    if link is None or not secret_matches(bearer.secret, link.secret_hash):
        return None
    return subject, link


class ConnectLinkService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = ConnectLinkRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def create(self, brand_id: uuid.UUID, data: ConnectLinkCreate) -> tuple[ConnectLink, str]:
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        connector_class(self.runtime, data.network)
        if brand.archived_at is not None:
            raise InvalidInput("This brand is archived; restore it before connecting accounts.")
        settings = self.runtime.settings
        if data.return_url is not None:
            await require_allowed_origin(
                self.session, self.subject, settings, data.return_url, "return_url"
            )
        hours = data.expires_in_hours or settings.connectors.connect_link_ttl_hours
        link_id = new_id()
        bearer = new_bearer(self.subject.agency_id, link_id)
        link = ConnectLink(
            id=link_id,
            brand_id=brand.id,
            network=data.network,
            secret_hash=hash_secret(bearer.secret),
            created_by=self.subject.user_id,
            note=data.note,
            expires_at=utcnow() + timedelta(hours=hours),
            return_url=data.return_url,
        )
        await self.repo.add(link)
        self.audit.record(
            "connect_link.created", "connect_link", link.id, {"network": data.network}
        )
        url = f"{settings.server.public_url.rstrip('/')}/connect/{bearer.render(LINK_PREFIX)}"
        return link, url

    async def list(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[ConnectLink], str | None]:
        await BrandRepository(self.session, self.subject).get(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id))

    async def revoke(self, link_id: uuid.UUID) -> ConnectLink:
        link = await self.repo.get(link_id)
        if link.revoked_at is None:
            link.revoked_at = utcnow()
            self.audit.record("connect_link.revoked", "connect_link", link.id, {})
        return link
