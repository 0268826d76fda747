"""After an unknown outcome: find the post on the account before anything is sent again.

A call that timed out, died with its worker or got a 5xx may have published. The
:class:`Reconciler` asks the network for a recent post with the same content since the first
attempt: found -> published; absent -> a new attempt (it cannot publish twice); the network
cannot be searched -> a person settles it (``POST /publications/{id}/resolve``). It also
settles the events the claimer raises without the publication's lock (missed, unknown).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from agency.audit.repository import AuditRepository
from agency.channel.repository import ChannelRepository
from agency.connector.base import Published
from agency.connector.errors import ConnectorError, NotSupported, RateLimited
from agency.kernel.db import utcnow
from agency.publication.content import build_post
from agency.publication.pipeline import Publisher, backoff
from agency.publication.states import Delivery

# Look for the post from a little before the first attempt (clocks differ).
RECONCILE_MARGIN = timedelta(minutes=5)


class Reconciler(Publisher):
    """The publisher's steps that follow an unknown outcome, in the job's session."""

    async def reconcile(self, variant_id: uuid.UUID) -> None:
        """An unknown outcome: find the post on the account, or learn it is not there."""
        await self._begin()
        locked = await self._lock(variant_id)
        if locked is None:
            return
        publication, variant = locked
        now = utcnow()
        if variant.status != Delivery.UNKNOWN or variant.not_before is None:
            return
        channel = await ChannelRepository(self.session, self.subject).find(variant.channel_id)
        if channel is None:
            return
        since = (await self.attempts.first_started(variant.id) or now) - RECONCILE_MARGIN
        try:
            media = await self._media(variant)
        except ConnectorError:
            media = []
        post = build_post(publication, variant, media)
        variant.lease_until = now + timedelta(seconds=60)
        await self._commit()
        try:
            found = await self._call(channel, lambda c: c.find_published(post, since))
        except NotSupported:
            await self._unresolvable(variant_id)
            return
        except ConnectorError as exc:
            await self._reconcile_later(variant_id, exc)
            return
        await self._reconciled(variant_id, found)

    async def _reconciled(self, variant_id: uuid.UUID, found: Published | None) -> None:
        locked = await self._lock(variant_id)
        if locked is None:  # pragma: no cover
            return
        publication, variant = locked
        now = utcnow()
        attempt = self._start(variant, "reconcile", now)
        attempt.finished_at = now
        if found is not None:
            attempt.outcome = "found"
            attempt.post_id = found.post_id
            attempt.message = "The post was found on the account."
            self._published(variant, found, now)
            await self._summarize(publication)
            await self._event("publication.published", publication, variant)
            await self._commit()
            return
        attempt.outcome = "not_found"
        attempt.message = "The post is not on the account: it was not published."
        if variant.attempt_count >= self.runtime.settings.publishing.max_attempts:
            await self._apply_fail(
                publication,
                variant,
                None,
                "Not published after several attempts; the network never confirmed the post.",
                now,
            )
            await self._summarize(publication)
            await self._commit()
            return
        # Not there: trying again cannot publish twice.
        self._again(variant, now, "The last attempt did not publish; trying again.")
        await self._summarize(publication)
        await self._commit()

    async def _reconcile_later(self, variant_id: uuid.UUID, exc: ConnectorError) -> None:
        locked = await self._lock(variant_id)
        if locked is None:  # pragma: no cover
            return
        _, variant = locked
        wait = (
            timedelta(seconds=exc.retry_after)
            if isinstance(exc, RateLimited) and exc.retry_after
            else backoff(2)
        )
        variant.not_before = utcnow() + wait
        variant.lease_until = None
        variant.last_error = f"Outcome unknown; the account could not be checked: {exc.message}"
        await self._commit()

    async def _unresolvable(self, variant_id: uuid.UUID) -> None:
        locked = await self._lock(variant_id)
        if locked is None:  # pragma: no cover
            return
        _, variant = locked
        variant.not_before = None  # nothing more to do automatically
        variant.lease_until = None
        variant.last_error = (
            "Outcome unknown and this network cannot be searched: check the account, then "
            "mark the post as published or publish it again."
        )
        await self._commit()

    # -- settling events raised by the claimer ---------------------------------------------

    async def settle(self, variant_id: uuid.UUID, event_type: str) -> None:
        await self._begin()
        locked = await self._lock(variant_id)
        if locked is None:
            return
        publication, variant = locked
        await self._summarize(publication)
        await self._event(event_type, publication, variant)
        if event_type == "publication.missed":
            AuditRepository(self.session, self.subject).record(
                "publication.missed", "publication", publication.id, {"variant": str(variant.id)}
            )
