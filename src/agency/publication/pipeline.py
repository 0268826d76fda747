"""Publishing exactly once: the worker's side (see docs/publishing.md).

1. The scheduler's claimer (:mod:`agency.publication.claiming`) takes due variants with a
   lease and enqueues them per agency in batches (``publication.publish_many``).
2. The worker locks the publications, then the variants, and re-checks everything: still
   scheduled, due, approved content, channel healthy, quota left. If not, no call.
3. It commits an attempt row (status ``publishing``) *before* calling the network, with an
   idempotency key the network gets where it takes one; the calls of a batch go out side
   by side.
4. The answer decides: published; failed (a definite refusal); back to scheduled for
   later (rate limit, network unreachable before anything was sent, token to renew); or
   ``unknown`` (timeout, 5xx, crash mid-call) - reconciled by looking for the post on the
   account before anything is tried again (:mod:`agency.publication.reconciling`). A worker
   that died mid-call leaves its attempt pending: once its lease ends the claimer marks it
   unknown and reconciliation follows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from agency.brand.crisis import crisis_event
from agency.brand.repository import BrandRepository
from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import ChannelService
from agency.connector.base import Capability, Comment, Connector, Media, Post, Published
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    InvalidContent,
    OutcomeUnknown,
    RateLimited,
    Refused,
    Transient,
)
from agency.kernel.db import new_id, utcnow
from agency.kernel.diagnosis import database_lost, explain
from agency.kernel.jobs import JobInterrupted
from agency.kernel.metrics import LATENESS
from agency.kernel.tenancy import Subject, bind_tenant
from agency.media.service import load_for_publish
from agency.publication import events
from agency.publication.content import build_post, content_hash, idempotency_key
from agency.publication.models import Attempt, Publication, Variant
from agency.publication.repository import (
    AttemptRepository,
    PublicationRepository,
    VariantRepository,
)
from agency.publication.staging import with_staged
from agency.publication.staging.repository import MediaStagingRepository
from agency.publication.states import (
    AttemptOutcome,
    Delivery,
    FirstCommentStatus,
    Status,
    summarize,
)
from agency.publication.timing import QUOTA_WINDOW
from agency.webhook.events import has_subscribers

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.publishing")
T = TypeVar("T")
# How a phase sets an attribute: setattr (the session writes it), or set_committed_value.
Assign = Callable[[object, str, object], None]

HOLD_RECHECK = timedelta(seconds=60)
RATE_LIMIT_DEFAULT = timedelta(seconds=60)
RECONCILE_DELAY = timedelta(seconds=5)


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempt - 1, 0), 3600))


# -- the worker's side ---------------------------------------------------------------------


@dataclass
class Call:
    """One publish call of a batch, prepared before the commit that precedes it."""

    variant_id: uuid.UUID
    attempt: Attempt
    channel: Channel
    post: Post
    # The channel's sealed credentials the call goes out with (a refresh replaces them).
    credentials: str | None = None
    # The instant the call is released at (the variant's due time, read in the re-check).
    due: datetime | None = None


class Publisher:
    """One variant through one step, in the job's session (committed here between steps)."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.agency_id = agency_id
        self.runtime = runtime
        self.subject = Subject(agency_id=agency_id, kind="system")
        self.publications = PublicationRepository(session, self.subject)
        self.variants = VariantRepository(session, self.subject)
        self.attempts = AttemptRepository(session, self.subject)
        self.channels = ChannelService(session, self.subject, runtime)
        self._subscribed: bool | None = None  # whether the agency has webhooks (asked once)

    async def _begin(self) -> None:
        await bind_tenant(self.session, self.agency_id)

    async def _commit(self, rebind: bool = True) -> None:
        """The one place a publisher commits: its phases only change rows."""
        await self.session.commit()
        if rebind:
            await self._begin()

    async def _lock_many(
        self,
        variant_ids: Sequence[uuid.UUID],
        *,
        skip_locked: bool,
        owners: set[uuid.UUID] | None = None,
    ) -> list[tuple[Publication, Variant]]:
        """Publications locked in id order first (as edits lock one), then the variants.
        ``owners``: the publications, when known (not read again)."""
        if owners is None:
            owners = set((await self.variants.publications_of(variant_ids)).values())
        publications = {p.id: p for p in await self.publications.lock_many(owners)}
        variants = await self.variants.lock_many(variant_ids, skip_locked=skip_locked)
        return [
            (publications[v.publication_id], v)
            for v in variants
            if v.publication_id in publications
        ]

    async def _event(self, event_type: str, publication: Publication, variant: Variant) -> None:
        if self._subscribed is None:
            self._subscribed = await has_subscribers(self.session, self.agency_id)
        if self._subscribed:
            await events.variant_event(
                self.session, event_type, publication, variant, self.runtime.settings.webhooks
            )

    async def _lock(self, variant_id: uuid.UUID) -> tuple[Publication, Variant] | None:
        """One variant and its publication, locked; None when another worker holds it."""
        locked = await self._lock_many([variant_id], skip_locked=True)
        return locked[0] if locked else None

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, variant_id: uuid.UUID) -> None:
        await self.publish_many([variant_id])

    async def publish_many(self, variant_ids: Sequence[uuid.UUID]) -> None:
        """A claimed batch in one go, its calls released at once: prepare, call, record.
        (Workers release each call at its own instant: :mod:`agency.publication.dispatch`.)"""
        calls = await self.prepared(variant_ids)
        if not calls:
            return
        outcomes = await self.call_all(calls, [self.send(call) for call in calls])
        await self.record_and_comment(calls, outcomes)

    async def prepare(
        self, variant_ids: Sequence[uuid.UUID], horizon: timedelta = timedelta(seconds=1)
    ) -> list[Call]:
        """The re-check right before the calls: the batch's rows locked, each variant still
        scheduled and due within ``horizon``, approved, its channel healthy, quota left, its
        brand not in crisis; for each that goes, an attempt and the ``publishing`` state.
        Nothing is committed here: the caller commits before any call."""
        await self._begin()
        locked = await self._lock_many(variant_ids, skip_locked=True)
        if not locked:
            return []
        now = utcnow()
        channels = await ChannelRepository(self.session, self.subject).many(
            {variant.channel_id for _, variant in locked}
        )
        crises = await self._crises(locked, share=True)
        stagings = await MediaStagingRepository(self.session, self.subject).of_variants(
            [variant.id for _, variant in locked if variant.media_ids]
        )
        lease = now + timedelta(seconds=self.runtime.settings.publishing.stale_attempt_seconds)
        calls: list[Call] = []
        going: list[Variant] = []
        for publication, variant in locked:
            if not await self._ready(publication, variant, now, horizon):
                continue
            crisis_id = crises.get(variant.brand_id)
            if crisis_id is not None and publication.crisis_cleared != crisis_id:
                self._hold_for_crisis(variant, crisis_id, now)
                continue
            channel = channels.get(variant.channel_id)
            if channel is None or not await self._channel_ready(publication, variant, channel, now):
                continue
            try:
                media = await self._media(variant)
            except ConnectorError as exc:
                await self._apply_fail(publication, variant, None, exc.message, now)
                continue
            due = variant.due_at or now
            # Uploaded ahead where they could be (for this content, still kept): named only.
            media = with_staged(media, variant, stagings.get(variant.id), due)
            post = build_post(publication, variant, media)
            # Set as saved: written below for the whole group in one statement (each).
            attempt = self._start(variant, "publish", now, set_committed_value, add=False)
            set_committed_value(variant, "status", Delivery.PUBLISHING)
            set_committed_value(variant, "content_hash", content_hash(variant))
            # The lease of the call itself, renewed while the worker lives: when it ends with
            # the row still publishing, the claimer turns the attempt into an unknown outcome.
            set_committed_value(variant, "lease_until", lease)
            going.append(variant)
            calls.append(Call(variant.id, attempt, channel, post, channel.credentials, due))
        await self.attempts.add_started([call.attempt for call in calls])
        await self.variants.mark_publishing(going, lease)
        await self._summarize_many([publication for publication, _ in locked])
        return calls

    async def prepared(
        self, variant_ids: Sequence[uuid.UUID], horizon: timedelta = timedelta(seconds=1)
    ) -> list[Call]:
        """:meth:`prepare`, committed: the attempts exist before the network hears."""
        calls = await self.prepare(variant_ids, horizon)
        await self._commit(rebind=False)  # no connection held while the calls wait
        return calls

    async def call_all(
        self, calls: Sequence[Call], sending: Sequence[Awaitable[Published | ConnectorError]]
    ) -> list[Published | ConnectorError]:
        """The calls' answers (``sending``: one awaitable per call, side by side); an expired
        token is refreshed once and the call tried once more (this writes the channel)."""
        outcomes = list(await asyncio.gather(*sending))
        for index, call in enumerate(calls):
            expired = outcomes[index]
            if isinstance(expired, AuthExpired):
                await self._begin()
                outcomes[index] = await self._try_refreshed(call, expired)
                # The refresh locked the channel's row and may hold a new token: both are
                # let go now, not after the other channels' calls.
                await self._commit(rebind=False)
        return outcomes

    async def record_and_comment(
        self, calls: Sequence[Call], outcomes: Sequence[Published | ConnectorError]
    ) -> None:
        """Save the answers in one transaction, then post the first comments under the posts
        that went out."""
        try:
            published = await self.record(calls, outcomes)
            await self._commit(rebind=bool(published))
        except Exception as exc:
            if not database_lost(exc):
                raise
            raise self._unsaved(calls, outcomes, exc) from None
        for variant_id, result, post in published:
            await self._first_comment(variant_id, result, post)

    async def record(
        self, calls: Sequence[Call], outcomes: Sequence[Published | ConnectorError]
    ) -> list[tuple[uuid.UUID, Published, Post]]:
        """The networks' answers, applied (not committed); the posts whose first comment
        follows."""
        await self._begin()
        relocked = await self._lock_many(
            [call.variant_id for call in calls],
            skip_locked=False,
            owners={call.attempt.publication_id for call in calls},
        )
        by_id = {variant.id: (publication, variant) for publication, variant in relocked}
        crises = await self._crises(relocked)
        now = utcnow()
        published: list[tuple[uuid.UUID, Published, Post]] = []
        out: list[tuple[Variant, Attempt]] = []
        for call, outcome in zip(calls, outcomes, strict=True):
            if call.variant_id not in by_id:  # pragma: no cover - deleted meanwhile
                continue
            publication, variant = by_id[call.variant_id]
            if isinstance(outcome, Published):
                # Set as saved: written below for the whole group in two statements.
                self._answered(call.attempt, outcome, now, set_committed_value)
                self._published(variant, outcome, now, set_committed_value)
                out.append((variant, call.attempt))
                await self._event("publication.published", publication, variant)
                if (crisis_id := crises.get(variant.brand_id)) is not None:
                    self._crisis_line(crisis_id, variant, "published")  # in flight as it began
                if call.post.first_comment:
                    published.append((variant.id, outcome, call.post))
            else:
                await self._apply_error(publication, variant, call.attempt, outcome, now)
        await self.attempts.finish_published([attempt for _, attempt in out], now)
        await self.variants.mark_published([variant for variant, _ in out], now)
        await self._summarize_many([publication for publication, _ in relocked])
        return published

    def _unsaved(
        self,
        calls: Sequence[Call],
        outcomes: Sequence[Published | ConnectorError],
        exc: Exception,
    ) -> JobInterrupted:
        """The one line to say when the database goes between the calls and their record."""
        sent = [c for c, o in zip(calls, outcomes, strict=True) if isinstance(o, Published)]
        networks = ", ".join(sorted({c.channel.network for c in sent})) or "none"
        stale = self.runtime.settings.publishing.stale_attempt_seconds
        why = explain(exc, database_url=self.runtime.settings.database.url) or str(exc)
        return JobInterrupted(
            f"{len(sent)} of {len(calls)} posts of agency {self.agency_id} were sent "
            f"({networks}) but their outcome could not be saved: {why}. They stay "
            f"'publishing' and are reconciled with the networks once the database is back "
            f"(after {stale:.0f}s, AGENCY_PUBLISHING__STALE_ATTEMPT_SECONDS): never sent twice."
        )

    async def send(self, call: Call) -> Published | ConnectorError:
        """One publish call; every failure becomes a typed error, none escapes."""
        try:
            connector = self.channels.connector(call.channel)
            return await connector.publish(call.post)
        except ConnectorError as exc:
            return exc
        except Exception as exc:  # a bug mid-call: the post may exist, never retry blindly
            logger.exception("publishing variant %s failed unexpectedly", call.variant_id)
            return OutcomeUnknown(f"Internal error during the call: {exc}")

    async def _try_refreshed(self, call: Call, expired: AuthExpired) -> Published | ConnectorError:
        try:
            return await self.channels.retry_expired(
                call.channel, lambda c: c.publish(call.post), call.credentials, expired
            )
        except ConnectorError as exc:
            return exc
        except Exception as exc:
            logger.exception("publishing variant %s failed unexpectedly", call.variant_id)
            return OutcomeUnknown(f"Internal error during the call: {exc}")

    async def _crises(
        self, locked: Sequence[tuple[Publication, Variant]], *, share: bool = False
    ) -> dict[uuid.UUID, uuid.UUID | None]:
        brands = BrandRepository(self.session, self.subject)
        return await brands.crises_of({variant.brand_id for _, variant in locked}, share=share)

    def _hold_for_crisis(self, variant: Variant, crisis_id: uuid.UUID, now: datetime) -> None:
        """The brand's queue is paused: held (never missed) until a person releases it."""
        variant.held_at = now
        variant.hold_reason = "Held: the brand is in crisis mode."
        variant.lease_until = None
        self._crisis_line(crisis_id, variant, "held")

    def _crisis_line(self, crisis_id: uuid.UUID, variant: Variant, kind: str) -> None:
        self.session.add(
            crisis_event(
                self.agency_id,
                crisis_id,
                variant.brand_id,
                kind,
                publication_id=variant.publication_id,
                variant_id=variant.id,
                network=variant.network,
                due_at=variant.due_at.isoformat() if variant.due_at else None,
            )
        )

    async def _ready(
        self, publication: Publication, variant: Variant, now: datetime, horizon: timedelta
    ) -> bool:
        if variant.status != Delivery.SCHEDULED:
            return False  # canceled, edited off the calendar, or another worker's
        if variant.held_at is not None:
            return False  # held by a crisis until a person releases it
        if variant.due_at is None or variant.due_at > now + horizon:
            variant.lease_until = None  # moved later: the scheduler takes it then
            return False
        if variant.not_before is not None and variant.not_before > now:
            return False
        if publication.status not in (Status.SCHEDULED, Status.PUBLISHING, Status.UNKNOWN):
            return False
        if variant.approved_version != variant.content_version:
            self._hold(variant, "Edited after approval: waiting for approval.", now, None)
            return False
        return True

    async def _channel_ready(
        self, publication: Publication, variant: Variant, channel: Channel, now: datetime
    ) -> bool:
        if (
            channel.health in (ChannelHealth.NEEDS_RECONNECT, ChannelHealth.REVOKED)
            or not channel.credentials
        ):
            reason = channel.last_error or "The channel must be reconnected."
            self._hold(variant, f"Held: the channel needs reconnecting ({reason})", now)
            return False
        cls = self.runtime.connectors.get(variant.network)
        if cls is None:
            missing = f"The {variant.network} connector is not installed."
            await self._apply_fail(publication, variant, None, missing, now)
            return False
        limit = cls.limits.max_posts_per_day
        if limit:
            recent = await self.variants.channel_times(
                variant.channel_id, now - QUOTA_WINDOW, now + timedelta(seconds=1), [variant.id]
            )
            done = sorted(t for t in recent if t <= now)
            if len(done) >= limit:
                free_at = done[len(done) - limit] + QUOTA_WINDOW
                self._hold(
                    variant,
                    f"Held: {cls.display_name} allows {limit} posts per 24 hours; "
                    f"the next one fits at {free_at.isoformat()}.",
                    now,
                    free_at,
                )
                return False
        variant.hold_reason = None
        return True

    def _hold(
        self, variant: Variant, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        variant.hold_reason = reason[:500]
        variant.not_before = until or now + HOLD_RECHECK
        variant.lease_until = None

    async def _media(self, variant: Variant) -> list[Media]:
        if not variant.media_ids:
            return []
        try:
            return await load_for_publish(
                self.session,
                self.subject,
                self.runtime,
                [uuid.UUID(m) for m in variant.media_ids],
            )
        except Exception as exc:
            raise Refused(f"A media file cannot be read: {exc}") from exc

    def _start(
        self,
        variant: Variant,
        kind: str,
        now: datetime,
        assign: Assign = setattr,
        add: bool = True,
    ) -> Attempt:
        """A new attempt row (``add``: to the session; else the caller inserts it); only
        publishing attempts count towards the limit."""
        number = variant.attempt_count + 1
        if kind == "publish":
            assign(variant, "attempt_count", number)
        attempt = Attempt(
            id=new_id(),
            agency_id=self.agency_id,
            variant_id=variant.id,
            publication_id=variant.publication_id,
            number=number,
            kind=kind,
            outcome="pending",
            idempotency_key=idempotency_key(variant),
            started_at=now,
        )
        if add:
            self.session.add(attempt)
        return attempt

    async def _call(self, channel: Channel, operation: Callable[[Connector], Awaitable[T]]) -> T:
        return await self.channels.call(channel, operation)

    @staticmethod
    def _answered(attempt: Attempt, published: Published, now: datetime, assign: Assign) -> None:
        assign(attempt, "outcome", AttemptOutcome.PUBLISHED)
        assign(attempt, "finished_at", now)
        assign(attempt, "post_id", published.post_id)

    def _published(
        self, variant: Variant, published: Published, now: datetime, assign: Assign = setattr
    ) -> None:
        """The variant is out (``assign``: ``setattr``, or ``set_committed_value`` when the
        caller writes the row itself: :meth:`VariantRepository.mark_published`)."""
        if variant.due_at is not None:
            late = (now - variant.due_at).total_seconds()
            LATENESS.labels(variant.network).observe(max(late, 0.0))
        for name, value in (
            ("status", Delivery.PUBLISHED),
            ("post_id", published.post_id),
            ("post_url", published.url),
            ("published_at", published.published_at or now),
            ("finished_at", now),
            ("lease_until", None),
            ("not_before", None),
            ("hold_reason", None),
            ("last_error", None),
        ):
            assign(variant, name, value)

    async def _apply_error(
        self,
        publication: Publication,
        variant: Variant,
        attempt: Attempt,
        exc: ConnectorError,
        now: datetime,
    ) -> None:
        attempt.finished_at = now
        attempt.http_status = exc.status
        attempt.message = exc.message[:2000]
        variant.lease_until = None
        max_attempts = self.runtime.settings.publishing.max_attempts
        if isinstance(exc, OutcomeUnknown) or (
            isinstance(exc, Transient) and exc.status is not None and exc.status >= 500
        ):
            # The network may have published: look before anything else.
            attempt.outcome = "unknown"
            variant.status = Delivery.UNKNOWN
            variant.not_before = now + RECONCILE_DELAY
            variant.last_error = (
                f"Outcome unknown ({exc.message}); checking the account before any retry."
            )[:2000]
            await self._event("publication.unknown", publication, variant)
        elif isinstance(exc, RateLimited):
            attempt.outcome = "rate_limited"
            attempt.retry_after_seconds = exc.retry_after
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else RATE_LIMIT_DEFAULT
            self._again(variant, now + wait, f"Rate limited by the network: {exc.message}")
        elif isinstance(exc, AuthExpired):
            # Refresh and retry were tried by ChannelService.call: the channel now needs a
            # reconnect, and nothing was published. Held until the channel is healthy again.
            attempt.outcome = "held"
            self._again(variant, now + HOLD_RECHECK, None)
            variant.hold_reason = f"Held: the channel needs reconnecting ({exc.message})"[:500]
        elif isinstance(exc, Transient) and variant.attempt_count < max_attempts:
            attempt.outcome = "retry"
            when = now + backoff(variant.attempt_count)
            self._again(variant, when, f"The network could not be reached: {exc.message}")
        else:
            # InvalidContent, Refused, NotSupported, or Transient too many times.
            attempt.outcome = "failed"
            await self._apply_fail(publication, variant, exc, exc.message, now)

    def _again(self, variant: Variant, when: datetime, error: str | None) -> None:
        variant.status = Delivery.SCHEDULED
        variant.not_before = when
        variant.lease_until = None
        if error:
            variant.last_error = error[:2000]

    async def _apply_fail(
        self,
        publication: Publication,
        variant: Variant,
        exc: ConnectorError | None,
        message: str,
        now: datetime,
    ) -> None:
        if isinstance(exc, InvalidContent):
            message = "; ".join(p.message for p in exc.problems) or message
        variant.status = Delivery.FAILED
        variant.finished_at = now
        variant.lease_until = None
        variant.last_error = message[:2000]
        await self._event("publication.failed", publication, variant)

    async def post_released_comment(self, variant_id: uuid.UUID) -> None:
        """A first comment a crisis held, which a person released: still ``pending`` (a
        duplicate message finds it ``posting`` or done), its post out; posted as any."""
        await self._begin()
        locked = await self._lock(variant_id)
        if locked is None:
            return
        publication, variant = locked
        if variant.first_comment_status != FirstCommentStatus.PENDING or variant.post_id is None:
            return
        variant.lease_until = None
        published = Published(post_id=variant.post_id, url=variant.post_url)
        await self._first_comment(variant.id, published, build_post(publication, variant))

    async def _first_comment(self, variant_id: uuid.UUID, published: Published, post: Post) -> None:
        """The first comment goes under the post once it exists (never before)."""
        locked = await self._lock(variant_id)
        if locked is None:  # pragma: no cover
            return
        publication, variant = locked
        cls = self.runtime.connectors.get(variant.network)
        if cls is None:
            return
        if Capability.FIRST_COMMENT in cls.capabilities:
            variant.first_comment_status = "posted"  # the connector posted it with the post
            await self._commit()
            return
        crisis_id = (await self._crises([locked], share=True)).get(variant.brand_id)
        if (
            crisis_id is not None and publication.crisis_cleared != crisis_id
        ):  # a comment leaves too: not while the brand is in crisis
            variant.first_comment_status = FirstCommentStatus.HELD
            self._crisis_line(crisis_id, variant, "first_comment_held")
            await self._commit()
            return
        channel = await ChannelRepository(self.session, self.subject).find(variant.channel_id)
        if channel is None:
            return
        attempt = self._start(variant, "first_comment", utcnow())
        attempt.post_id = published.post_id
        if variant.first_comment_status == FirstCommentStatus.PENDING:
            # Released after a crisis, claimed by the scheduler: committed as on the wire
            # before the call, so a worker dying now leaves it "posting" (in doubt, shown),
            # never claimed and sent again. (Right after its post, it is never retried.)
            variant.first_comment_status = FirstCommentStatus.POSTING
        await self._commit()
        target = Comment(comment_id=published.post_id, post_id=published.post_id, text="")
        text = post.first_comment or ""
        try:
            reply = await self._call(channel, lambda c: c.reply(target, text))
        except ConnectorError as exc:
            await self._record_comment(variant_id, attempt.id, "failed", exc.message, None)
            return
        await self._record_comment(variant_id, attempt.id, "posted", None, reply.comment_id)

    async def _record_comment(
        self,
        variant_id: uuid.UUID,
        attempt_id: uuid.UUID,
        outcome: str,
        message: str | None,
        comment_id: str | None,
    ) -> None:
        variant = await self.variants.get(variant_id)
        attempt = await self.attempts.get(attempt_id)
        attempt.outcome = "published" if outcome == "posted" else "failed"
        attempt.finished_at = utcnow()
        attempt.message = message[:2000] if message else None
        attempt.post_id = comment_id or attempt.post_id
        variant.first_comment_status = outcome
        await self._commit()

    async def _summarize_many(self, publications: Sequence[Publication]) -> None:
        await self.session.flush()
        unique = {p.id: p for p in publications}
        found = await self.variants.statuses_of(list(unique))
        changes = []
        for publication_id, publication in unique.items():
            if publication.status == Status.CANCELED:
                continue
            status = summarize(found.get(publication_id, []))
            if publication.status != status:
                changes.append((publication, str(status)))
        await self.publications.set_statuses(changes)

    async def _summarize(self, publication: Publication) -> None:
        await self._summarize_many([publication])
