"""Bulk import of publications from CSV: every row checked, then all imported or none.

Each row is one publication on one channel, scheduled at its time. Every row is checked
before anything is written (channel of this brand, time to come and existing in the brand's
zone, the network's rules through its connector, the network's quota counting the rows
before it), and each refused row says why, column by column. One refused row and nothing is
imported: the request's transaction is rolled back as a whole.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.brand.schemas import ReportingLine
from agency.calendar.csvfile import Row, read_rows
from agency.calendar.repository import ImportRepository
from agency.calendar.schemas import ImportOut, RowProblem, RowReport, report_dicts
from agency.calendar.wallclock import utc_to_wall, wall_to_utc
from agency.channel.models import Channel
from agency.connector.base import Media
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import AppError, InvalidInput
from agency.kernel.tenancy import Subject
from agency.media.service import describe_for_validation
from agency.publication.bulk import BulkScheduler, Planned, PlannedRefused
from agency.publication.composing import VariantComposer
from agency.publication.drafting import variant_fields
from agency.publication.models import Publication, Variant
from agency.publication.repository import VariantRepository
from agency.publication.schemas import PublicationCreate, VariantIn
from agency.publication.timing import QUOTA_WINDOW, quota_allows

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

URL = re.compile(r"^https?://[^\s]+$")
LIST_SEPARATORS = re.compile(r"[,;]")
ID_SEPARATORS = re.compile(r"[\s,;]+")
# Longest value per column, as the publication API takes them.
MAX_CHARS = {
    "title": 200,
    "text": 100_000,
    "link": 2000,
    "first_comment": 10_000,
    "post_title": 300,
    "campaign": 100,
}


class ImportRefused(InvalidInput):
    """422 with the per-row report in ``rows``; nothing was imported."""

    def __init__(self, detail: str, rows: list[RowReport]) -> None:
        errors = [
            {"field": f"rows[{r.row}].{p.column}", "message": p.message, "code": p.code}
            for r in rows
            for p in r.problems
        ]
        AppError.__init__(self, detail, errors=errors, rows=report_dicts(rows))


@dataclass
class Checked:
    row: Row
    problems: list[RowProblem] = field(default_factory=list)
    channel: Channel | None = None
    when: datetime | None = None
    data: PublicationCreate | None = None

    def refuse(self, column: str, message: str, code: str) -> None:
        self.problems.append(RowProblem(column=column, message=message, code=code))

    def report(self, publication_id: uuid.UUID | None = None) -> RowReport:
        return RowReport(
            row=self.row.number,
            accepted=not self.problems,
            problems=self.problems,
            publication_id=publication_id,
            due_at=self.when,
        )


@dataclass(frozen=True)
class Lookup:
    channels: list[Channel]
    agency_channels: set[uuid.UUID]
    media: dict[uuid.UUID, uuid.UUID]
    # The brand's media named in the file, as the networks' rules read them.
    described: dict[uuid.UUID, Media]


class ImportService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.composer = VariantComposer(session, subject, runtime)
        self.lookups = ImportRepository(session, subject)

    async def brand(self, brand_id: uuid.UUID) -> Brand:
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        if brand.archived_at is not None:
            raise InvalidInput("This brand is archived; restore it to publish for it.")
        return brand

    async def run(
        self, brand: Brand, body: bytes, *, dry_run: bool, now: datetime | None = None
    ) -> ImportOut:
        """Check every row; unless it is a dry run, import them all, or refuse them all."""
        rows = read_rows(body)
        lookup = await self._lookup(brand, rows)
        now = now or utcnow()
        checked = [await self._check(row, brand, lookup, now) for row in rows]
        await self._check_quotas(checked)
        refused = sum(bool(c.problems) for c in checked)
        if dry_run:
            return _out(True, [c.report() for c in checked])
        if refused:
            raise ImportRefused(
                f"{refused} of {len(checked)} rows are refused; nothing was imported.",
                [c.report() for c in checked],
            )
        reports = await self._write(brand, checked)
        AuditRepository(self.session, self.subject).record(
            "publication.imported", "brand", brand.id, {"publications": len(reports)}
        )
        return _out(False, reports)

    async def _lookup(self, brand: Brand, rows: Sequence[Row]) -> Lookup:
        channel_ids = [i for r in rows if (i := _uuid(r.get("channel_id"))) is not None]
        media_ids = [m for r in rows for m in _ids(r.get("media_ids")) if m is not None]
        media = await self.lookups.media_brands(media_ids)
        own = [m for m, owner in media.items() if owner == brand.id]
        described = await describe_for_validation(self.session, self.subject, own)
        return Lookup(
            channels=await self.lookups.channels_of_brand(brand.id),
            agency_channels=await self.lookups.channel_ids(channel_ids),
            media=media,
            described=dict(zip(own, described, strict=True)),
        )

    async def _check(self, row: Row, brand: Brand, lookup: Lookup, now: datetime) -> Checked:
        checked = Checked(row)
        if row.extra_cells:
            checked.refuse("row", "more cells than the header has columns", "extra_cells")
        title = row.get("title")
        if not title:
            checked.refuse("title", "a title is required", "required")
        for column, limit in MAX_CHARS.items():
            if len(row.get(column)) > limit:
                checked.refuse(column, f"longer than {limit} characters", "too_long")
        link = row.get("link")
        if link and not URL.match(link):
            checked.refuse("link", "not an http(s) URL", "invalid")
        line = row.get("reporting_line")
        if line and line not in set(ReportingLine):
            checked.refuse("reporting_line", f"not one of {', '.join(ReportingLine)}", "invalid")
        tags = [t.strip() for t in LIST_SEPARATORS.split(row.get("tags")) if t.strip()]
        if len(tags) > 50 or any(len(t) > 100 for t in tags):
            checked.refuse("tags", "at most 50 tags of up to 100 characters", "invalid")
        media = self._media(checked, brand, lookup)
        checked.channel = self._channel(checked, brand, lookup)
        checked.when = _when(checked, ZoneInfo(brand.timezone), now)
        if checked.problems or checked.channel is None:
            return checked
        variant = VariantIn(
            channel_id=checked.channel.id,
            text=row.get("text"),
            link=link or None,
            title=row.get("post_title") or None,
            first_comment=row.get("first_comment") or None,
            media_ids=media,
        )
        checked.data = PublicationCreate(
            title=title,
            variants=[variant],
            campaign=row.get("campaign") or None,
            reporting_line=ReportingLine(line) if line else None,
            tags=tags,
        )
        await self._network_rules(checked, variant, brand, lookup)
        return checked

    def _channel(self, checked: Checked, brand: Brand, lookup: Lookup) -> Channel | None:
        row = checked.row
        raw_id, network = row.get("channel_id"), row.get("network").lower()
        if raw_id:
            channel_id = _uuid(raw_id)
            found = next((c for c in lookup.channels if c.id == channel_id), None)
            if channel_id is None:
                checked.refuse("channel_id", f"{raw_id!r} is not a channel id", "invalid")
            elif found is None and channel_id in lookup.agency_channels:
                checked.refuse(
                    "channel_id", f"channel {channel_id} belongs to another brand", "other_brand"
                )
            elif found is None:
                checked.refuse(
                    "channel_id", f"no channel with id {channel_id} in this agency", "unknown"
                )
            elif network and found.network != network:
                checked.refuse("network", f"channel {found.id} is on {found.network}", "mismatch")
            return found
        account = row.get("account").lstrip("@").casefold()
        if not network or not account:
            checked.refuse("channel_id", "give channel_id, or network and account", "required")
            return None
        matches = [
            c
            for c in lookup.channels
            if c.network == network
            and account
            in {(c.handle or "").lstrip("@").casefold(), c.account_id.casefold(), c.name.casefold()}
        ]
        if len(matches) == 1:
            return matches[0]
        checked.refuse(
            "account",
            f"no {network} channel {account!r} for {brand.name}"
            if not matches
            else f"{len(matches)} {network} channels answer to {account!r}: use channel_id",
            "unknown" if not matches else "ambiguous",
        )
        return None

    def _media(self, checked: Checked, brand: Brand, lookup: Lookup) -> list[uuid.UUID]:
        found = []
        raw = [m for m in ID_SEPARATORS.split(checked.row.get("media_ids")) if m]
        for text, media_id in zip(raw, _ids(checked.row.get("media_ids")), strict=True):
            owner = lookup.media.get(media_id) if media_id else None
            if media_id is None:
                checked.refuse("media_ids", f"{text!r} is not a media id", "invalid")
            elif owner is None:
                checked.refuse(
                    "media_ids", f"no media with id {media_id} in this agency", "unknown"
                )
            elif owner != brand.id:
                checked.refuse(
                    "media_ids", f"media {media_id} belongs to another brand", "other_brand"
                )
            else:
                found.append(media_id)
        if len(found) > 35:
            checked.refuse("media_ids", "at most 35 media", "too_many")
        return found

    async def _network_rules(
        self, checked: Checked, item: VariantIn, brand: Brand, lookup: Lookup
    ) -> None:
        """The connector's own validation of the post, as it would be published, and the
        brand's charter."""
        assert checked.channel is not None and checked.data is not None
        publication = Publication(brand_id=brand.id, title=checked.data.title, utm={}, tags=[])
        variant = Variant(id=new_id(), network=checked.channel.network, **variant_fields(item))
        found = await self.composer.problems(publication, [variant], brand, lookup.described)
        for problem in found.get(variant.id, []):
            checked.refuse(_column(problem.field), problem.message, problem.code)

    async def _check_quotas(self, checked: Sequence[Checked]) -> None:
        """The network's posts-per-24-hours, counting the rows above on the same channel."""
        by_channel: dict[uuid.UUID, list[Checked]] = {}
        for item in checked:
            if not item.problems and item.channel is not None and item.when is not None:
                by_channel.setdefault(item.channel.id, []).append(item)
        variants = VariantRepository(self.session, self.subject)
        for channel_id, items in by_channel.items():
            connector = self.runtime.connectors.get(items[0].channel.network)  # type: ignore[union-attr]
            limit = connector.limits.max_posts_per_day if connector else None
            if not limit:
                continue
            times = [i.when for i in items if i.when is not None]
            taken = await variants.channel_times(
                channel_id, min(times) - QUOTA_WINDOW, max(times) + QUOTA_WINDOW
            )
            for item in items:
                assert item.when is not None
                if quota_allows(taken, item.when, limit):
                    taken.append(item.when)
                    continue
                item.refuse(
                    _time_column(item.row),
                    f"{connector.display_name if connector else 'The network'} allows "
                    f"{limit} posts per 24 hours on this account; that window is full",
                    "quota_exhausted",
                )

    async def _write(self, brand: Brand, checked: list[Checked]) -> list[RowReport]:
        """Every row created and scheduled, in one go: what the rows were checked against
        could have changed since (another schedule on a channel), so the quota is read
        again first."""
        await self._check_quotas(checked)
        refused = sum(bool(c.problems) for c in checked)
        if refused:
            raise ImportRefused(
                f"{refused} of {len(checked)} rows were refused while importing; nothing was "
                "imported.",
                [c.report() for c in checked],
            )
        planned = []
        for item in checked:
            assert item.data is not None and item.channel is not None and item.when is not None
            planned.append(Planned(item.data, item.channel, item.when))
        try:
            created = await BulkScheduler(
                self.session, self.subject, self.runtime
            ).create_scheduled(brand, planned)
        except PlannedRefused as exc:
            item = checked[exc.index]
            for problem in exc.error.extensions.get("errors", []) or [
                {"message": exc.error.detail}
            ]:
                item.refuse(_time_column(item.row), problem["message"], "refused")
            raise ImportRefused(
                f"Row {item.row.number} was refused while importing; nothing was imported.",
                [c.report() for c in checked],
            ) from exc
        return [
            item.report(publication_id)
            for item, publication_id in zip(checked, created, strict=True)
        ]


def _when(checked: Checked, zone: ZoneInfo, now: datetime) -> datetime | None:
    row = checked.row
    local, at = row.get("local_time"), row.get("at")
    if bool(local) == bool(at):
        message = "give local_time or at, not both" if local else "a time is required"
        checked.refuse(_time_column(row), message, "required")
        return None
    column = "local_time" if local else "at"
    try:
        parsed = datetime.fromisoformat((local or at).replace(" ", "T", 1))
    except ValueError:
        checked.refuse(column, "not a date and time such as 2027-03-28T09:30", "invalid")
        return None
    if local:
        if parsed.tzinfo is not None:
            checked.refuse(column, "wall-clock time takes no offset; or use at", "invalid")
            return None
        when = wall_to_utc(parsed, zone)
        if utc_to_wall(when, zone) != parsed:
            checked.refuse(
                column, f"{local} is skipped by the change to summer time in {zone.key}", "skipped"
            )
            return None
    elif parsed.tzinfo is None:
        checked.refuse(column, "an instant needs its offset (e.g. Z or +01:00)", "invalid")
        return None
    else:
        when = parsed
    if when <= now:
        checked.refuse(column, f"{when.isoformat()} is in the past", "past")
    return when


def _time_column(row: Row) -> str:
    return "at" if row.get("at") and not row.get("local_time") else "local_time"


def _column(problem_field: str) -> str:
    """Where a connector's problem points, as a column of the file."""
    if problem_field.startswith("media"):
        return "media_ids"
    return "post_title" if problem_field == "title" else problem_field


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _ids(text: str) -> list[uuid.UUID | None]:
    return [_uuid(part) for part in ID_SEPARATORS.split(text) if part]


def _out(dry_run: bool, reports: list[RowReport]) -> ImportOut:
    refused = sum(not r.accepted for r in reports)
    return ImportOut(
        dry_run=dry_run, accepted=len(reports) - refused, refused=refused, rows=reports
    )


__all__ = ["ImportRefused", "ImportService"]
