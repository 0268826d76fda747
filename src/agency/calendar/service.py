"""The calendar across brands and channels, a brand's iCalendar feed, and feed links."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import hash_secret, new_bearer, parse_bearer, secret_matches
from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.brand.schemas import ReportingLine
from agency.calendar import ics
from agency.calendar.cache import KeptCalendar, calendar_cache
from agency.calendar.models import CalendarFeed
from agency.calendar.repository import SHOWN_DUE_AT, CalendarRepository, FeedRepository
from agency.calendar.schemas import CalendarEntry, CalendarFilter, CalendarOut
from agency.calendar.wallclock import instant_range, local_iso
from agency.kernel.conditional import weak_etag
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import NotFound
from agency.kernel.pagination import InvalidCursor, PageRequest
from agency.kernel.tenancy import Subject, bind_tenant
from agency.publication.states import Delivery, Status

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

FEED_PREFIX = "acf"
# What a feed shows: a quarter back, a year ahead, at most this many events.
FEED_PAST = timedelta(days=92)
FEED_AHEAD = timedelta(days=366)
FEED_MAX_EVENTS = 2000
FEED_STATUSES = (Delivery.SCHEDULED, Delivery.PUBLISHING, Delivery.PUBLISHED)
LAST_USED_GRANULARITY = timedelta(hours=1)


def encode_cursor(due_at: datetime, variant_id: uuid.UUID) -> str:
    raw = f"{due_at.isoformat()}|{variant_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        due, _, variant = raw.partition("|")
        when = datetime.fromisoformat(due)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(variant)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "The cursor is not one this API returned; start again without it."
        ) from exc


class CalendarService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = CalendarRepository(session, subject)

    async def answer(
        self,
        start: str | None,
        end: str | None,
        where: CalendarFilter,
        cursor: str | None,
        limit: int,
    ) -> KeptCalendar:
        """Variants due in the range (at most 92 days), by due time, a page at a time: the
        answer's JSON and its ETag, kept in the process's cache while the rows it shows do
        not change (:mod:`agency.calendar.cache`)."""
        first, last = instant_range(start, end)
        after = decode_cursor(cursor) if cursor else None
        cache = calendar_cache(self.runtime.settings.publishing.calendar_cache_size)
        stamp = await self.repo.stamp(first, last, where) if cache is not None else None
        # Every filter the read takes, lists as tuples (a new filter is in the key too).
        asked = tuple(
            value if isinstance(value, str | None) else tuple(value)
            for value in (getattr(where, name) for name in _FILTERS)
        )
        key = (self.subject.agency_id, first, last, asked, after, limit)
        if cache is not None and stamp is not None:
            found = cache.get(key, stamp)
            if found is not None:
                return found
        rows = await self.repo.page(first, last, where, after, limit)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1][SHOWN_DUE_AT], rows[-1][0])
        zones: dict[str, ZoneInfo] = {}
        items = [_entry(r, zones) for r in rows]
        body = msgspec.json.encode(
            CalendarOut(start=first, end=last, items=items, next_cursor=next_cursor)
        )
        answer = KeptCalendar(body, weak_etag(body))
        if cache is not None and stamp is not None:
            cache.put(key, stamp, answer)
        return answer

    async def feed(self, brand_id: uuid.UUID, now: datetime | None = None) -> tuple[Brand, bytes]:
        """The brand's iCalendar document: what is on the calendar or was published."""
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        now = now or utcnow()
        where = CalendarFilter(brand_ids=[brand.id], statuses=FEED_STATUSES)
        rows = await self.repo.entries(
            now - FEED_PAST, now + FEED_AHEAD, where, None, FEED_MAX_EVENTS, with_text=True
        )
        names = {n: self.runtime.connectors[n].display_name for n in self.runtime.connectors}
        return brand, ics.render(brand.name, brand.timezone, rows[:FEED_MAX_EVENTS], names)


_FILTERS = tuple(field.name for field in fields(CalendarFilter))
# The states by their stored values: a dictionary look-up is several times cheaper than the
# enum's call, and a month's calendar makes hundreds of them per request.
_DELIVERIES = {delivery.value: delivery for delivery in Delivery}
_STATUSES = {status.value: status for status in Status}
_LINES = {line.value: line for line in ReportingLine}


def _entry(row: Sequence[Any], zones: dict[str, ZoneInfo]) -> CalendarEntry:
    """An entry from a row of ``SHOWN`` (the repository's), read by position."""
    (
        variant_id,
        publication_id,
        title,
        brand_id,
        brand_name,
        channel_id,
        channel_name,
        network,
        due_at,
        timezone,
        status,
        publication_status,
        campaign,
        reporting_line,
        series_id,
        published_at,
        post_url,
    ) = row
    zone = zones.get(timezone)
    if zone is None:
        zone = zones[timezone] = ZoneInfo(timezone)
    return CalendarEntry(
        variant_id=variant_id,
        publication_id=publication_id,
        title=title,
        brand_id=brand_id,
        brand_name=brand_name,
        channel_id=channel_id,
        channel_name=channel_name,
        network=network,
        due_at=due_at,
        local_time=local_iso(due_at, zone),
        timezone=timezone,
        status=_DELIVERIES[status],
        publication_status=_STATUSES[publication_status],
        campaign=campaign,
        reporting_line=_LINES[reporting_line] if reporting_line else None,
        series_id=series_id,
        published_at=published_at,
        post_url=post_url,
    )


class FeedService:
    """Secret feed addresses: a random secret, only its hash stored, revocable at will."""

    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = FeedRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def create(self, brand_id: uuid.UUID, name: str) -> tuple[CalendarFeed, str]:
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        feed_id = new_id()
        bearer = new_bearer(self.subject.agency_id, feed_id)
        feed = CalendarFeed(
            id=feed_id,
            brand_id=brand.id,
            name=name,
            secret_hash=hash_secret(bearer.secret),
            created_by=self.subject.user_id,
        )
        await self.repo.add(feed)
        self.audit.record("calendar_feed.created", "calendar_feed", feed.id, {"name": name})
        return feed, feed_url(self.runtime, bearer.render(FEED_PREFIX))

    async def list(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[CalendarFeed], str | None]:
        await BrandRepository(self.session, self.subject).get(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id))

    async def revoke(self, feed_id: uuid.UUID) -> CalendarFeed:
        feed = await self.repo.get(feed_id)
        if feed.revoked_at is None:
            feed.revoked_at = utcnow()
            self.audit.record("calendar_feed.revoked", "calendar_feed", feed.id, {})
        return feed


def feed_url(runtime: Runtime, token: str) -> str:
    base = runtime.settings.server.public_url.rstrip("/")
    return f"{base}/feeds/{token}/calendar.ics"


async def open_feed(session: AsyncSession, token: str) -> tuple[Subject, CalendarFeed]:
    """The live feed a secret address names, under its agency; 404 for anything else."""
    missing = NotFound("This calendar feed does not exist or was revoked.")
    bearer = parse_bearer(token, FEED_PREFIX)
    if bearer is None:
        raise missing
    await bind_tenant(session, bearer.agency_id)
    subject = Subject(agency_id=bearer.agency_id, kind="system")
    feed = await FeedRepository(session, subject).find(bearer.object_id)
    if feed is None or feed.revoked_at is not None:
        raise missing
    if not secret_matches(bearer.secret, feed.secret_hash):
        raise missing
    now = utcnow()
    if feed.last_used_at is None or now - feed.last_used_at > LAST_USED_GRANULARITY:
        feed.last_used_at = now
    return subject, feed
