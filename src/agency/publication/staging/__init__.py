"""Media staged ahead: where a network takes media before the post that names them
(``Capability.STAGE_MEDIA``), they go up minutes before the post's time, so that the call at
its instant is one small request (docs/publishing.md, "Media staged ahead").

1. The scheduler claims variants whose media are due to go up
   (``AGENCY_PUBLISHING__MEDIA_LEAD_SECONDS`` before their time, at most half the time the
   network keeps an unused upload; never inside the publishing look-ahead): never staged,
   staged for another content version (edited), expiring before the post, or failed and
   due for another try. The variant row is locked (``SKIP LOCKED``) and its staging row
   leased, then ``publication.stage_media`` is enqueued; a lost message or a dead worker is
   redone when the lease ends, a duplicate message finds the row no longer ``claimed``.
2. The worker commits ``uploading`` and a ``stage_media`` attempt, uploads, and records the
   network's references, for the content version and media it uploaded, with their expiry.
3. At the post's time the publisher names them only when they are for the variant's current
   content and media and still valid then; otherwise (edited since, expired, never staged)
   the media go up with the post as before. A post canceled after staging never goes out:
   its uploads are left to the network, which drops unused ones.
4. A failure is tried again (backoff) while there is time; when it is definite, or tries run
   out, it is reported before the post's time: the attempt says so, the variant's
   ``last_error`` too, and ``publication.media_staging_failed`` goes to the webhooks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import ChannelService
from agency.connector.base import Capability, Connector, Media, Post, StagedMedia
from agency.connector.errors import ConnectorError, OutcomeUnknown, RateLimited, Transient
from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue
from agency.kernel.scheduling import backlog
from agency.kernel.tenancy import Subject, bind_tenant
from agency.media.service import load_for_publish
from agency.publication import events
from agency.publication.content import build_post, idempotency_key
from agency.publication.models import Attempt, MediaStaging, Variant
from agency.publication.repository import PublicationRepository, VariantRepository
from agency.publication.staging.repository import (
    NAMED,
    MediaStagingRepository,
    StagingSweepRepository,
)
from agency.publication.states import AttemptKind, AttemptOutcome, Delivery, Staging

if TYPE_CHECKING:
    from agency.config import Settings
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.publishing")

CLAIM_BATCH = 500
# Uploads no post will name are looked for every this many staging intervals.
SWEEP_EVERY = 10
JOB_BATCH = 20
# Staging stops this long before the publishing look-ahead: the post is then claimed as is.
MARGIN = timedelta(seconds=2)
# Staged media are named only until this long before the network drops them.
VALID_AFTER_DUE = timedelta(seconds=5)
FIRST_RETRY = timedelta(seconds=15)
REPORTED = (
    "The media could not be uploaded ahead ({why}); they will be uploaded with the post "
    "at its time."
)


async def discard(
    channels: ChannelService, variant_id: uuid.UUID, channel: Channel, references: list[str]
) -> ConnectorError | bool:
    """Delete uploads made ahead that no post will name, where the network can (best
    effort, logged): whether the network deleted them (``False``: it lets them expire), or
    why it could not."""

    async def each(connector: Connector) -> bool:
        return await connector.discard_staged(references)

    try:
        deleted = await channels.call(channel, each)
    except ConnectorError as exc:
        logger.warning(
            "the media of variant %s uploaded ahead could not be deleted: %s",
            variant_id,
            exc.message,
        )
        return exc
    except Exception:
        logger.exception("deleting the media of variant %s uploaded ahead failed", variant_id)
        return OutcomeUnknown("Internal error while deleting the uploads.")
    how = "deleted" if deleted else "left to the network, which drops unused uploads"
    logger.info("media of variant %s uploaded ahead: %s", variant_id, how)
    return deleted


def staging_horizons(runtime: Runtime, now: datetime) -> dict[str, datetime]:
    """The networks that take media ahead, each with how far ahead its posts are staged."""
    lead = runtime.settings.publishing.media_lead_seconds
    if lead <= 0:
        return {}
    horizons = {}
    for network, cls in runtime.connectors.items():
        if Capability.STAGE_MEDIA not in cls.capabilities:
            continue
        life = cls.staged_media_lifetime
        ahead = min(lead, life.total_seconds() / 2) if life else lead
        horizons[network] = now + timedelta(seconds=ahead)
    return horizons


class Pace:
    """When this scheduler looks for media to stage next (a backlog: at once)."""

    def __init__(self, settings: Settings) -> None:
        self.next_at: datetime | None = None
        self.sweep_at: datetime | None = None  # for uploads no post will name


async def claim_staging(session: AsyncSession, now: datetime, runtime: Runtime) -> int:
    """One batch of media due to go up ahead, in the caller's (system-bound) transaction."""
    settings = runtime.settings.publishing
    pace = runtime.component(Pace)
    if pace.next_at is not None and now < pace.next_at:
        return 0
    # Staging is minutes ahead: looked for every few seconds, not at every tick.
    pace.next_at = now + timedelta(seconds=settings.staging_interval_seconds)
    sweep = StagingSweepRepository(session)
    # Claimed first: a row just claimed for an upload is leased, so not taken below.
    claimed = await _claim_uploads(sweep, now, runtime)
    if pace.sweep_at is not None and now < pace.sweep_at:
        return claimed
    # Deleting what no post will name is not urgent: looked for less often.
    pace.sweep_at = now + SWEEP_EVERY * timedelta(seconds=settings.staging_interval_seconds)
    await sweep.settle_published(now, CLAIM_BATCH)
    return claimed + await _claim_discards(sweep, now, runtime)


async def _claim_discards(sweep: StagingSweepRepository, now: datetime, runtime: Runtime) -> int:
    """Uploads made ahead that no post will name (canceled, unscheduled, edited since),
    handed to ``publication.discard_staged_media``, their rows leased meanwhile."""
    rows = await sweep.discardable(now, CLAIM_BATCH)
    if not rows:
        return 0
    lease = timedelta(seconds=runtime.settings.publishing.staging_lease_seconds)
    await sweep.lease([staging_id for staging_id, _ in rows], now, now + lease)
    _enqueue_by_agency("publication.discard_staged_media", rows)
    return len(rows)


def _enqueue_by_agency(name: str, rows: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Job ``name`` for each agency's ``(id, agency id)`` rows, a batch at a time."""
    by_agency: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row_id, agency_id in rows:
        by_agency[agency_id].append(str(row_id))
    for agency_id, ids in by_agency.items():
        for start in range(0, len(ids), JOB_BATCH):
            enqueue(name, str(agency_id), ids[start : start + JOB_BATCH])


async def _claim_uploads(sweep: StagingSweepRepository, now: datetime, runtime: Runtime) -> int:
    settings = runtime.settings.publishing
    pace = runtime.component(Pace)
    horizons = staging_horizons(runtime, now)
    if not horizons:
        return 0
    after = now + timedelta(seconds=settings.lookahead_seconds) + MARGIN
    rows = await sweep.due(now, after, horizons, CLAIM_BATCH)
    if not rows:
        return 0
    if len(rows) >= CLAIM_BATCH:
        pace.next_at = None
        backlog("media_staging")
    await sweep.claim(rows, now, now + timedelta(seconds=settings.staging_lease_seconds))
    _enqueue_by_agency("publication.stage_media", [(v, agency) for v, agency, _ in rows])
    return len(rows)


def with_staged(
    media: list[Media], variant: Variant, staging: MediaStaging | None, due: datetime
) -> list[Media]:
    """``media`` naming their staged uploads, when those are of the variant's current content
    and media and still kept by the network after ``due``; else as they are (uploaded with
    the post)."""
    if (
        staging is None
        or not staging.references
        or staging.content_version != variant.content_version
        or staging.media_ids != variant.media_ids
        or len(staging.references) != len(media)
        or staging.expires_at is None
        or staging.expires_at <= due
    ):
        return media
    pairs = zip(media, staging.references, strict=True)
    return [dataclasses.replace(m, staged=ref) for m, ref in pairs]


@dataclasses.dataclass
class Upload:
    """One variant's media going up, prepared in the transaction before the calls."""

    variant_id: uuid.UUID
    content_version: int
    media_ids: list[str]
    post: Post  # as it will go out, media with their files
    channel: Channel
    attempt: Attempt


class AgencyStagings:
    """A worker's view of one agency's staging rows, their variants and channels."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.agency_id = agency_id
        self.runtime = runtime
        self.subject = Subject(agency_id=agency_id, kind="system")
        self.stagings = MediaStagingRepository(session, self.subject)
        self.variants = VariantRepository(session, self.subject)
        self.channels = ChannelService(session, self.subject, runtime)


class Stager(AgencyStagings):
    """A worker's side: one agency's claimed variants, their media uploaded ahead."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        super().__init__(session, agency_id, runtime)
        self.publications = PublicationRepository(session, self.subject)
        # Uploads of another content version dropped from a row: (variant, channel, refs).
        self.stale: list[tuple[uuid.UUID, Channel, list[str]]] = []

    async def stage(self, variant_ids: Sequence[uuid.UUID]) -> None:
        uploads = await self._prepare(variant_ids)
        await self.session.commit()  # uploading, and the attempts, before any call
        if uploads:
            results = await asyncio.gather(*(self._upload(u) for u in uploads))
            await bind_tenant(self.session, self.agency_id)
            await self._record(uploads, results)
            await self.session.commit()
        # Those of a content edited since, replaced above: no post names them any more.
        await asyncio.gather(*(discard(self.channels, *stale) for stale in self.stale))

    async def _prepare(self, variant_ids: Sequence[uuid.UUID]) -> list[Upload]:
        await bind_tenant(self.session, self.agency_id)
        rows = await self.stagings.of_variants(variant_ids, lock=True)
        claimed = [v for v, row in rows.items() if row.status == Staging.CLAIMED]
        if not claimed:
            return []  # a duplicate message, or taken again by another worker
        variants = {v.id: v for v in await self.variants.many(claimed)}
        channels = await ChannelRepository(self.session, self.subject).many(
            {v.channel_id for v in variants.values()}
        )
        now = utcnow()
        lease = now + timedelta(seconds=self.runtime.settings.publishing.staging_lease_seconds)
        uploads = []
        for variant_id in claimed:
            row = rows[variant_id]
            variant = variants.get(variant_id)
            channel = channels.get(variant.channel_id) if variant else None
            if variant is None or channel is None or not self._worth_it(variant, channel, now):
                # Nothing to stage now; an edit claims it again.
                row.status, row.lease_until, row.reported_at = Staging.FAILED, None, now
                if variant is not None and row.content_version != variant.content_version:
                    self._drop_references(row, channel)
                    row.content_version = variant.content_version
                continue
            if row.content_version != variant.content_version:
                row.attempt_count = 0  # edited since: a new content, new tries
            publication = await self.publications.get(variant.publication_id)
            try:
                ids = [uuid.UUID(m) for m in variant.media_ids]
                media = await load_for_publish(self.session, self.subject, self.runtime, ids)
            except Exception as exc:
                row.status, row.lease_until, row.reported_at = Staging.FAILED, None, now
                row.references, row.content_version = [], variant.content_version
                row.last_error = f"A media file cannot be read: {exc}"[:2000]
                continue
            row.status, row.lease_until, row.updated_at = Staging.UPLOADING, lease, now
            attempt = self._attempt(variant, now)
            uploads.append(
                Upload(
                    variant_id,
                    variant.content_version,
                    list(variant.media_ids),
                    build_post(publication, variant, media),
                    channel,
                    attempt,
                )
            )
        return uploads

    def _drop_references(self, row: MediaStaging, channel: Channel | None) -> None:
        """The row's references, of a content no post will be, deleted after the commit."""
        if row.references and channel is not None:
            self.stale.append((row.variant_id, channel, list(row.references)))
        row.references = []

    def _worth_it(self, variant: Variant, channel: Channel, now: datetime) -> bool:
        """Still a scheduled, approved post in the future, on a channel that can call."""
        return (
            variant.status == Delivery.SCHEDULED
            and variant.held_at is None
            and variant.due_at is not None
            and variant.due_at > now
            and variant.approved_version == variant.content_version
            and bool(variant.media_ids)
            and channel.health not in (ChannelHealth.NEEDS_RECONNECT, ChannelHealth.REVOKED)
            and channel.credentials is not None
        )

    def _attempt(self, variant: Variant, now: datetime) -> Attempt:
        attempt = Attempt(
            agency_id=self.agency_id,
            variant_id=variant.id,
            publication_id=variant.publication_id,
            number=variant.attempt_count + 1,
            kind=AttemptKind.STAGE_MEDIA,
            outcome=AttemptOutcome.PENDING,
            idempotency_key=idempotency_key(variant),
            started_at=now,
        )
        self.session.add(attempt)
        return attempt

    async def _upload(self, upload: Upload) -> list[StagedMedia] | ConnectorError:
        async def each(connector: Connector) -> list[StagedMedia]:
            staged = await connector.stage_post(upload.post)
            if len(staged) != len(upload.post.media):
                raise OutcomeUnknown("The network answered a reference per file, but not each.")
            return staged

        try:
            return await self.channels.call(upload.channel, each)
        except ConnectorError as exc:
            return exc
        except Exception as exc:
            logger.exception("uploading the media of variant %s ahead failed", upload.variant_id)
            return OutcomeUnknown(f"Internal error during the upload: {exc}")

    async def _record(
        self, uploads: Sequence[Upload], results: Sequence[list[StagedMedia] | ConnectorError]
    ) -> None:
        rows = await self.stagings.of_variants([u.variant_id for u in uploads], lock=True)
        variants = {v.id: v for v in await self.variants.many([u.variant_id for u in uploads])}
        now = utcnow()
        for upload, result in zip(uploads, results, strict=True):
            row, variant = rows.get(upload.variant_id), variants.get(upload.variant_id)
            attempt = upload.attempt
            attempt.finished_at = now
            if row is None or variant is None:
                continue
            row.lease_until, row.updated_at = None, now
            if isinstance(result, ConnectorError):
                attempt.outcome, attempt.http_status = AttemptOutcome.FAILED, result.status
                attempt.message = result.message[:2000]
                if row.content_version != upload.content_version:
                    self._drop_references(row, upload.channel)  # never named again
                row.content_version, row.media_ids = upload.content_version, upload.media_ids
                await self._failed(row, variant, result, now)
                continue
            if row.content_version != upload.content_version:
                self._drop_references(row, upload.channel)
            # Those of the same content are left to expire: a post may be naming them now.
            expires = min((s.expires_at for s in result), default=now) - VALID_AFTER_DUE
            row.status, row.content_version = Staging.STAGED, upload.content_version
            row.media_ids, row.references = upload.media_ids, [s.reference for s in result]
            row.staged_at, row.expires_at = now, expires
            row.renew_at = now + (expires - now) / 2
            row.attempt_count, row.not_before, row.reported_at, row.last_error = 0, None, None, None
            attempt.outcome = AttemptOutcome.STAGED
            attempt.message = f"Uploaded ahead; the network keeps them until {expires.isoformat()}."

    async def _failed(
        self, row: MediaStaging, variant: Variant, error: ConnectorError, now: datetime
    ) -> None:
        """Tried again while there is time; otherwise reported now, before the post's time."""
        row.status, row.last_error = Staging.FAILED, error.message[:2000]
        row.attempt_count += 1
        wait = FIRST_RETRY * 2 ** (row.attempt_count - 1)
        if isinstance(error, RateLimited) and error.retry_after:
            wait = max(wait, timedelta(seconds=error.retry_after))
        settings = self.runtime.settings.publishing
        deadline = (variant.due_at or now) - timedelta(seconds=settings.lookahead_seconds) - MARGIN
        if (
            isinstance(error, Transient | RateLimited)
            and row.attempt_count < settings.staging_attempts
            and now + wait < deadline
        ):
            row.not_before = now + wait
            return
        row.reported_at = now
        await self._report(variant, REPORTED.format(why=error.message))

    async def _report(self, variant: Variant, message: str) -> None:
        variant.last_error = message[:2000]
        publication = await self.publications.find(variant.publication_id)
        if publication is not None:
            await events.variant_event(
                self.session,
                "publication.media_staging_failed",
                publication,
                variant,
                self.runtime.settings.webhooks,
            )


# A network that could not delete an upload (a 5xx, a rate limit) is asked again later.
DISCARD_RETRY = timedelta(minutes=10)
DISCARD_ATTEMPTS = 3


def unnamed(row: MediaStaging, variant: Variant) -> bool:
    """As :func:`~agency.publication.staging.repository.no_post_will_name` says it."""
    if variant.status in NAMED:
        return False
    return variant.status != Delivery.SCHEDULED or row.content_version != variant.content_version


def forget(row: MediaStaging) -> None:
    """The row holds no upload any more: one is made again if its post is staged again."""
    row.references, row.media_ids, row.content_version = [], [], 0
    row.status, row.expires_at, row.renew_at = Staging.FAILED, None, None
    row.lease_until, row.not_before, row.reported_at = None, None, None
    row.attempt_count = 0


class Discarder(AgencyStagings):
    """A worker's side of the discard sweep: one agency's leased rows whose uploads no post
    will name, deleted where the network can (best effort, logged), then forgotten."""

    async def discard(self, staging_ids: Sequence[uuid.UUID]) -> None:
        await bind_tenant(self.session, self.agency_id)
        rows = await self.stagings.locked(staging_ids)
        variants = {v.id: v for v in await self.variants.many([r.variant_id for r in rows])}
        channels = await ChannelRepository(self.session, self.subject).many(
            {v.channel_id for v in variants.values()}
        )
        work: list[tuple[uuid.UUID, uuid.UUID, Channel, list[str]]] = []
        for row in rows:
            row.lease_until = None
            variant = variants.get(row.variant_id)
            if variant is None or not row.references or not unnamed(row, variant):
                continue  # rescheduled meanwhile: its post may name them
            channel = channels.get(variant.channel_id)
            if channel is None or channel.credentials is None:
                forget(row)  # nothing can call the network for them: left to expire
                continue
            row.lease_until = utcnow() + DISCARD_RETRY  # held while the calls run
            work.append((row.id, variant.id, channel, list(row.references)))
        await self.session.commit()  # no row lock held during the calls
        if not work:
            return
        results = await asyncio.gather(*(discard(self.channels, *job[1:]) for job in work))
        await bind_tenant(self.session, self.agency_id)
        held = {r.id: r for r in await self.stagings.locked([job[0] for job in work])}
        now = utcnow()
        for (row_id, _, _, references), result in zip(work, results, strict=True):
            kept = held.get(row_id)
            if kept is None or kept.references != references:
                continue  # staged again meanwhile
            retry = isinstance(result, Transient | RateLimited)
            if retry and kept.attempt_count + 1 < DISCARD_ATTEMPTS:
                kept.attempt_count += 1
                kept.lease_until = None
                kept.not_before = now + DISCARD_RETRY * 2 ** (kept.attempt_count - 1)
                continue
            forget(kept)
        await self.session.commit()
