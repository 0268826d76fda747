"""Every statement of the inbox: tenant repositories, and the scheduler's system one."""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Select,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    exists,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from agency.brand.models import Brand
from agency.channel.models import Channel
from agency.inbox.models import (
    Answer,
    AnswerAttempt,
    InboxChannel,
    InboxRules,
    Message,
    Moderation,
    Note,
    SavedReply,
    Thread,
    ThreadSubject,
)
from agency.inbox.schemas import MessageFilter
from agency.inbox.triage import OPEN
from agency.kernel.pagination import PageRequest, encode_cursor
from agency.kernel.repository import HotRead, TenantRepository
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import (
    scoped_select,
    scoped_template,
    template_fits,
    template_parameters,
)
from agency.member.models import Membership
from agency.publication.models import Publication, Variant


def _insert(session: Any, model: type[Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


class RulesRepository(TenantRepository[InboxRules]):
    model = InboxRules
    noun = "inbox rules"

    async def of_brands(self, brand_ids: set[uuid.UUID]) -> dict[uuid.UUID, InboxRules]:
        if not brand_ids:
            return {}
        stmt = self.select().where(InboxRules.brand_id.in_(brand_ids))
        return {r.brand_id: r for r in (await self.session.execute(stmt)).scalars()}


class InboxChannelRepository(TenantRepository[InboxChannel]):
    model = InboxChannel
    noun = "inbox channel"

    async def lock_many(self, ids: Sequence[uuid.UUID]) -> list[InboxChannel]:
        stmt = (
            self.select()
            .where(InboxChannel.id.in_(ids))
            .order_by(InboxChannel.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars())


class ThreadRepository(TenantRepository[Thread]):
    model = Thread
    noun = "thread"

    async def of_channels(self, channel_ids: set[uuid.UUID]) -> list[Thread]:
        stmt = self.select().where(Thread.channel_id.in_(channel_ids)).order_by(Thread.id)
        return list((await self.session.execute(stmt)).scalars())

    async def follow_published(self, channel_ids: set[uuid.UUID], since: datetime) -> int:
        """A thread for each post of these channels published since ``since`` that has none
        (the same post twice is one thread: unique on channel and post id)."""
        variants = (
            scoped_select(Variant, self.subject)
            .add_columns(Publication.title)
            .join(Publication, Publication.id == Variant.publication_id)
            .where(
                Variant.channel_id.in_(channel_ids),
                Variant.post_id.is_not(None),
                Variant.published_at >= since,
                ~exists().where(
                    Thread.channel_id == Variant.channel_id, Thread.post_id == Variant.post_id
                ),
            )
        )
        rows = (await self.session.execute(variants)).all()
        if not rows:
            return 0
        values = [
            {
                "id": uuid.uuid4(),
                "agency_id": self.subject.agency_id,
                "brand_id": v.brand_id,
                "channel_id": v.channel_id,
                "network": v.network,
                "post_id": v.post_id,
                "post_url": v.post_url,
                "publication_id": v.publication_id,
                "variant_id": v.id,
                "title": (title or "")[:200],
                "published_at": v.published_at,
            }
            for v, title in rows
        ]
        stmt = _insert(self.session, Thread).values(values).on_conflict_do_nothing()
        await self.session.execute(stmt)
        return len(values)

    async def open(
        self, channel: Channel, subject: ThreadSubject, mentions: Sequence[Mapping[str, Any]]
    ) -> dict[str, Thread]:
        """A thread of ``subject`` for each of these (``post_id``, ``title``,
        ``published_at``) of ``channel`` that has none: a mention, a person writing privately;
        and every such thread by post id (the same read twice is one thread: unique on
        channel and post id)."""
        if not mentions:
            return {}
        values = [
            {
                "id": uuid.uuid4(),
                "agency_id": self.subject.agency_id,
                "brand_id": channel.brand_id,
                "channel_id": channel.id,
                "network": channel.network,
                "subject": subject,
                **mention,
            }
            for mention in mentions
        ]
        stmt = _insert(self.session, Thread).values(values).on_conflict_do_nothing()
        await self.session.execute(stmt)
        found = self.select().where(
            Thread.channel_id == channel.id,
            Thread.post_id.in_([m["post_id"] for m in mentions]),
        )
        return {t.post_id: t for t in (await self.session.execute(found)).scalars()}


# What the inbox list shows of a message, in the order ``MessageOut.of_row`` reads it.
LISTED = (
    Message.id,
    Message.brand_id,
    Message.channel_id,
    Message.thread_id,
    Message.network,
    Message.network_id,
    Message.parent_id,
    Message.author_id,
    Message.author_name,
    Message.text,
    Message.received_at,
    Message.origin,
    Message.origin_why,
    Message.kind,
    Message.kind_why,
    Message.status,
    Message.assigned_to,
    Message.due_at,
    Message.answered_at,
    Message.response_seconds,
    Message.hidden,
    Message.private,
    Message.deleted_at,
    Message.moderation,
    Message.version,
)
# Soonest deadline first, those without one last, then by id.
DUE_ORDER = (Message.due_at.is_(None), Message.due_at, Message.id)
LIST_FILTERS: tuple[tuple[str, Any], ...] = (
    ("statuses", Message.status),
    ("origins", Message.origin),
    ("kinds", Message.kind),
)
ONE_FILTERS: tuple[tuple[str, Any], ...] = (
    ("brand_id", Message.brand_id),
    ("channel_id", Message.channel_id),
    ("assigned_to", Message.assigned_to),
)


def _after_due(stmt: Select[Any], after_id: Any, due: Any) -> Select[Any]:
    """By deadline, past the cursor's message ``after_id`` whose deadline is ``due`` (None:
    it has none, so only messages without one and a greater id follow)."""
    if due is None:
        return stmt.where(Message.due_at.is_(None), Message.id > after_id)
    return stmt.where(
        or_(Message.due_at.is_(None), tuple_(Message.due_at, Message.id) > tuple_(due, after_id))
    )


def _listing(shape: Hashable) -> Select[Any]:
    """The inbox list's statement for one shape: which filters are given, ``overdue``, the
    order, and the cursor's cut (None, ``id``, ``null``: past a message without deadline,
    ``due``). Lists are compared with ``= ANY`` of one array parameter (PostgreSQL only,
    as every :class:`HotRead` statement runs)."""
    assert isinstance(shape, tuple)
    *given, overdue, by_due, cut = shape
    stmt: Select[Any] = scoped_template(Message, *LISTED).where(Message.deleted_at.is_(None))
    for (name, column), on in zip(LIST_FILTERS, given[: len(LIST_FILTERS)], strict=True):
        if on:
            stmt = stmt.where(column == any_(bindparam(name, type_=ARRAY(String()))))
    for (name, column), on in zip(ONE_FILTERS, given[len(LIST_FILTERS) :], strict=True):
        if on:
            stmt = stmt.where(column == bindparam(name, type_=Uuid()))
    if overdue is not None:
        open_ = bindparam("open", value=list(OPEN), type_=ARRAY(String()))
        late = and_(
            Message.status == any_(open_),
            Message.due_at.is_not(None),
            Message.due_at < bindparam("now", type_=Message.due_at.type),
        )
        stmt = stmt.where(late if overdue else ~late)
    after_id = bindparam("after_id", type_=Uuid())
    if cut == "id":
        stmt = stmt.where(Message.id < after_id)
    elif cut == "null":
        stmt = _after_due(stmt, after_id, None)
    elif cut == "due":
        stmt = _after_due(stmt, after_id, bindparam("after_due", type_=Message.due_at.type))
    order = DUE_ORDER if by_due else (Message.id.desc(),)
    return stmt.order_by(*order).limit(bindparam("rows"))


LISTING = HotRead(_listing)


class MessageRepository(TenantRepository[Message]):
    model = Message
    noun = "message"

    async def insert_new(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        """Store what is not stored yet; the ids of the rows written (a message already
        there, read again by an overlapping pull, changes nothing)."""
        if not rows:
            return []
        values = [{**row, "agency_id": self.subject.agency_id} for row in rows]
        stmt = (
            _insert(self.session, Message)
            .values(values)
            .on_conflict_do_nothing()
            .returning(Message.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def known(self, channel_id: uuid.UUID, network_ids: Sequence[str]) -> set[str]:
        """Which of these network ids the inbox already holds for the channel."""
        if not network_ids:
            return set()
        stmt = self.select().where(
            Message.channel_id == channel_id, Message.network_id.in_(network_ids)
        )
        return {m.network_id for m in (await self.session.execute(stmt)).scalars()}

    async def lock(self, message_id: uuid.UUID) -> Message:
        stmt = (
            self.select()
            .where(Message.id == message_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found = (await self.session.execute(stmt)).scalar_one_or_none()
        if found is None:
            raise self.not_found(message_id)
        return found

    async def listed(
        self, page: PageRequest, where: MessageFilter, *, by_due: bool, now: datetime
    ) -> tuple[Sequence[Sequence[Any]], str | None]:
        """A page of the inbox, newest first or by deadline (``by_due``): rows of ``LISTED``,
        by position. A keyset on id, or on (deadline, id) with no deadline last; the cursor
        names the last message of the page."""
        after: Any = None  # newest: the cursor's id; by due: its message's deadline row
        if page.after_id is not None and by_due:
            after = (
                await self.session.execute(
                    self.select()
                    .where(Message.id == page.after_id)
                    .with_only_columns(Message.due_at)
                )
            ).first()
        if template_fits(self.subject) and self.session.get_bind().dialect.name == "postgresql":
            found = await self._hot(page, where, by_due, after, now)
        else:
            stmt = self._listing(where, now).with_only_columns(*LISTED)
            if by_due:
                if after is not None:
                    stmt = _after_due(stmt, page.after_id, after[0])
                stmt = stmt.order_by(*DUE_ORDER)
            else:
                if page.after_id is not None:
                    stmt = stmt.where(Message.id < page.after_id)
                stmt = stmt.order_by(Message.id.desc())
            found = (await self.session.execute(stmt.limit(page.limit + 1))).all()
        if len(found) > page.limit:
            found = found[: page.limit]
            return found, encode_cursor(found[-1][0])
        return found, None

    async def _hot(
        self, page: PageRequest, where: MessageFilter, by_due: bool, after: Any, now: datetime
    ) -> Sequence[Sequence[Any]]:
        lists = {"statuses": where.statuses, "origins": where.origins, "kinds": where.kinds}
        ones = {
            "brand_id": where.brand_id,
            "channel_id": where.channel_id,
            "assigned_to": where.assigned_to,
        }
        if page.after_id is None or (by_due and after is None):
            cut = None  # a cursor whose message is gone (by due) starts over, as before
        elif not by_due:
            cut = "id"
        else:
            cut = "null" if after[0] is None else "due"
        shape = (
            *(bool(values) for values in lists.values()),
            *(value is not None for value in ones.values()),
            where.overdue,
            by_due,
            cut,
        )
        params: dict[str, Any] = {
            **template_parameters(self.subject),
            **{name: list(values) for name, values in lists.items()},
            **ones,
            "now": now,
            "after_id": page.after_id,
            "after_due": after[0] if after is not None else None,
            "rows": page.limit + 1,
        }
        return await LISTING.rows(self.session, shape, params)

    def _listing(self, where: MessageFilter, now: datetime) -> Select[Message]:
        stmt = self.select().where(Message.deleted_at.is_(None))
        for name, column in LIST_FILTERS:
            if values := getattr(where, name):
                stmt = stmt.where(column.in_(values))
        for name, column in ONE_FILTERS:
            if (value := getattr(where, name)) is not None:
                stmt = stmt.where(column == value)
        late = Message.status.in_(OPEN) & Message.due_at.is_not(None) & (Message.due_at < now)
        if where.overdue is True:
            stmt = stmt.where(late)
        elif where.overdue is False:
            stmt = stmt.where(~late)
        return stmt

    async def of_thread(self, thread_id: uuid.UUID, limit: int) -> list[Message]:
        stmt = (
            self.select()
            .where(Message.thread_id == thread_id)
            .order_by(Message.received_at, Message.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())


class NoteRepository(TenantRepository[Note]):
    model = Note
    noun = "note"

    async def of_message(self, message_id: uuid.UUID) -> list[Note]:
        stmt = self.select().where(Note.message_id == message_id).order_by(Note.id)
        return list((await self.session.execute(stmt)).scalars())


class SavedReplyRepository(TenantRepository[SavedReply]):
    model = SavedReply
    noun = "saved reply"

    def of_brand(self, brand_id: uuid.UUID) -> Select[SavedReply]:
        return self.select().where(SavedReply.brand_id == brand_id)


class AnswerRepository(TenantRepository[Answer]):
    model = Answer
    noun = "answer"

    async def of_message(self, message_id: uuid.UUID) -> list[Answer]:
        stmt = self.select().where(Answer.message_id == message_id).order_by(Answer.id)
        return list((await self.session.execute(stmt)).scalars())

    async def of_messages(self, message_ids: Sequence[uuid.UUID]) -> list[Answer]:
        """The answers to these messages, oldest first."""
        if not message_ids:
            return []
        stmt = self.select().where(Answer.message_id.in_(message_ids)).order_by(Answer.id)
        return list((await self.session.execute(stmt)).scalars())

    async def lock(self, answer_id: uuid.UUID, *, skip_locked: bool = False) -> Answer | None:
        stmt = (
            self.select()
            .where(Answer.id == answer_id)
            .with_for_update(skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        )
        found: Answer | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


class ModerationRepository(TenantRepository[Moderation]):
    model = Moderation
    noun = "moderation"

    async def in_flight(self, message_id: uuid.UUID) -> Moderation | None:
        """The message's action not carried out yet, if any."""
        stmt = self.select().where(
            Moderation.message_id == message_id, Moderation.status.in_(("queued", "calling"))
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def lock(self, moderation_id: uuid.UUID) -> Moderation | None:
        stmt = (
            self.select()
            .where(Moderation.id == moderation_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        found: Moderation | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


class AnswerAttemptRepository(TenantRepository[AnswerAttempt]):
    model = AnswerAttempt
    noun = "answer attempt"

    async def of_answers(self, answer_ids: Sequence[uuid.UUID]) -> list[AnswerAttempt]:
        if not answer_ids:
            return []
        stmt = (
            self.select()
            .where(AnswerAttempt.answer_id.in_(answer_ids))
            .order_by(AnswerAttempt.answer_id, AnswerAttempt.number)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def first_started(self, answer_id: uuid.UUID) -> datetime | None:
        stmt = (
            self.select()
            .where(AnswerAttempt.answer_id == answer_id)
            .order_by(AnswerAttempt.number)
            .limit(1)
        )
        first = (await self.session.execute(stmt)).scalar_one_or_none()
        return first.started_at if first is not None else None

    async def pending(self, answer_id: uuid.UUID) -> list[AnswerAttempt]:
        stmt = self.select().where(
            AnswerAttempt.answer_id == answer_id, AnswerAttempt.outcome == "pending"
        )
        return list((await self.session.execute(stmt)).scalars())


class InboxSweepRepository(SystemRepository):
    """Across agencies: channels to follow, due pulls and due answers (the scheduler's claims,
    ``FOR UPDATE SKIP LOCKED``: two schedulers never take a row)."""

    async def channels_unfollowed(self, networks: Sequence[str], limit: int) -> Sequence[Any]:
        """``(agency_id, channel_id, brand_id, network)`` of connected channels on networks
        that give comments, not followed yet."""
        stmt = (
            select(Channel.agency_id, Channel.id, Channel.brand_id, Channel.network)
            .where(
                Channel.health != "revoked",
                Channel.network.in_(networks),
                ~exists().where(InboxChannel.id == Channel.id),
            )
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()

    async def follow(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            stmt = _insert(self.session, InboxChannel).values(list(rows)).on_conflict_do_nothing()
            await self.session.execute(stmt)

    async def claim_pulls(self, now: datetime, lease: datetime, limit: int) -> Sequence[Any]:
        """``(agency_id, channel_id)`` of due pulls, leased until ``lease``."""
        stmt = (
            select(InboxChannel.agency_id, InboxChannel.id)
            .where(
                InboxChannel.next_pull_at <= now,
                or_(InboxChannel.lease_until.is_(None), InboxChannel.lease_until < now),
            )
            .order_by(InboxChannel.next_pull_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            await self.session.execute(
                update(InboxChannel)
                .where(InboxChannel.id.in_([row[1] for row in rows]))
                .values(lease_until=lease)
                .execution_options(synchronize_session=False)
            )
        return rows

    async def claim_moderations(self, now: datetime, lease: datetime, limit: int) -> Sequence[Any]:
        """``(agency_id, moderation_id)`` of actions due (queued, their time come) or whose
        worker died mid-call (calling past its lease), leased until ``lease``."""
        stmt = (
            select(Moderation.agency_id, Moderation.id)
            .where(
                Moderation.status.in_(("queued", "calling")),
                or_(Moderation.not_before.is_(None), Moderation.not_before <= now),
                or_(Moderation.lease_until.is_(None), Moderation.lease_until < now),
            )
            .order_by(Moderation.not_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            await self.session.execute(
                update(Moderation)
                .where(Moderation.id.in_([row[1] for row in rows]))
                .values(lease_until=lease)
                .execution_options(synchronize_session=False)
            )
        return rows

    async def claim_answers(self, now: datetime, lease: datetime, limit: int) -> Sequence[Any]:
        """``(agency_id, answer_id, status)`` of answers due to be sent (queued), to be
        reconciled (unknown), or whose worker died mid-call (sending past its lease)."""
        stmt = (
            select(Answer.agency_id, Answer.id, Answer.status)
            .where(
                Answer.status.in_(("queued", "unknown", "sending")),
                or_(Answer.not_before.is_(None), Answer.not_before <= now),
                or_(Answer.lease_until.is_(None), Answer.lease_until < now),
            )
            .order_by(Answer.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            await self.session.execute(
                update(Answer)
                .where(Answer.id.in_([row[1] for row in rows]))
                .values(lease_until=lease)
                .execution_options(synchronize_session=False)
            )
            stale = [row[1] for row in rows if row[2] == "sending"]
            if stale:
                # The worker died during the call: the network may have the reply.
                await self.session.execute(
                    update(Answer)
                    .where(Answer.id.in_(stale))
                    .values(status="unknown")
                    .execution_options(synchronize_session=False)
                )
                await self.session.execute(
                    update(AnswerAttempt)
                    .where(AnswerAttempt.answer_id.in_(stale), AnswerAttempt.outcome == "pending")
                    .values(
                        outcome="unknown",
                        finished_at=now,
                        message="The worker stopped during the call; checking the thread.",
                    )
                    .execution_options(synchronize_session=False)
                )
        return rows

    async def claim_deadlines(
        self, now: datetime, warn_until: datetime, limit: int
    ) -> tuple[Sequence[Message], Sequence[Message]]:
        """Open messages whose deadline is near (due by ``warn_until``, not warned yet) and
        those past it (not alerted yet), locked: the caller stamps them in this transaction."""
        watched = (
            Message.status.in_(OPEN),
            Message.due_at.is_not(None),
            Message.breached_at.is_(None),
        )
        breached = (
            select(Message)
            .where(*watched, Message.due_at <= now)
            .order_by(Message.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        near = (
            select(Message)
            .where(*watched, Message.due_at > now, Message.due_at <= warn_until)
            .where(Message.warned_at.is_(None))
            .order_by(Message.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (
            (await self.session.execute(near)).scalars().all(),
            (await self.session.execute(breached)).scalars().all(),
        )

    async def brands(self, brand_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Brand]:
        stmt = select(Brand).where(Brand.id.in_(set(brand_ids)))
        return {b.id: b for b in (await self.session.execute(stmt)).scalars()}

    async def people(
        self,
        message_ids: Sequence[uuid.UUID],
        roles: Sequence[str],
        user_ids: Sequence[uuid.UUID],
    ) -> Sequence[Membership]:
        """Members of the agencies of ``message_ids`` holding ``roles``, and those of
        ``user_ids`` (assignees), with their user (disabled users left out)."""
        of_these_agencies = exists().where(
            Message.agency_id == Membership.agency_id, Message.id.in_(set(message_ids))
        )
        stmt = (
            select(Membership)
            .options(joinedload(Membership.user))
            .where(
                of_these_agencies,
                or_(Membership.role.in_(roles), Membership.user_id.in_(set(user_ids))),
            )
            .order_by(Membership.agency_id, Membership.id)
        )
        members = (await self.session.execute(stmt)).scalars().all()
        return [m for m in members if m.user.disabled_at is None]
