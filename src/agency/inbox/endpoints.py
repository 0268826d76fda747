"""The inbox: messages, threads, answers, moderation, a brand's rules and saved replies."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.inbox import triage
from agency.inbox.answers import AnswerService
from agency.inbox.models import Message
from agency.inbox.schemas import (
    AnswerIn,
    AnswerOut,
    HideIn,
    Kind,
    MessageDetail,
    MessageFilter,
    MessageOut,
    MessagePage,
    MessageStatus,
    MessageUpdate,
    ModerationIn,
    ModerationOut,
    NoteIn,
    NoteOut,
    Origin,
    RulesIn,
    RulesOut,
    SavedReplyIn,
    SavedReplyOut,
    SavedReplyPage,
    Sla,
    Sort,
    ThreadOut,
)
from agency.inbox.service import InboxService
from agency.kernel.db import utcnow
from agency.kernel.deps import IdempotencyGuard, IfMatch, Paging, provide_runtime_service
from agency.kernel.http import etag

READ = {"permission": Permission.COMMENTS_READ}
ANSWER = {"permission": Permission.COMMENTS_ANSWER}
MODERATE = {"permission": Permission.COMMENTS_MODERATE}
APPROVE = {"permission": Permission.CRISIS_MANAGE}
RULES = {"permission": Permission.BRANDS_WRITE}


async def _detail(
    inbox: InboxService, answers: AnswerService, message: Message
) -> Response[MessageDetail]:
    now = utcnow()
    out = MessageOut.of(message, now)
    notes = [NoteOut.of(n) for n in await inbox.notes_of(message.id)]
    given = [AnswerOut.of(a, attempts) for a, attempts in await answers.of_message(message.id)]
    detail = MessageDetail(**msgspec.structs.asdict(out), notes=notes, answers=given)
    return Response(detail, headers={"ETag": etag(message.version)})


class MessageController(Controller):
    path = "/inbox/messages"
    tags = ["Inbox"]
    dependencies = {
        "inbox": provide_runtime_service(InboxService),
        "answers": provide_runtime_service(AnswerService),
    }

    @get(opt=READ, summary="The inbox: messages to read and answer, filtered and sorted")
    async def list_inbox_messages(
        self,
        inbox: NamedDependency[InboxService],
        page: Paging,
        brand_id: Annotated[uuid.UUID | None, QueryParameter(description="Of one brand.")] = None,
        channel_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Of one channel.")
        ] = None,
        status: Annotated[
            list[MessageStatus] | None, QueryParameter(description="In these statuses.")
        ] = None,
        origin: Annotated[
            list[Origin] | None, QueryParameter(description="Of these origins.")
        ] = None,
        kind: Annotated[list[Kind] | None, QueryParameter(description="Of these types.")] = None,
        assigned_to: Annotated[
            uuid.UUID | None, QueryParameter(description="Assigned to this user.")
        ] = None,
        overdue: Annotated[
            bool | None,
            QueryParameter(description="Past their deadline and not answered (or not)."),
        ] = None,
        sort: Annotated[
            Sort,
            QueryParameter(description="`newest` first, or `due`: the soonest deadline first."),
        ] = Sort.NEWEST,
    ) -> MessagePage:
        where = MessageFilter(
            brand_id=brand_id,
            channel_id=channel_id,
            statuses=[str(s) for s in status or []],
            origins=[str(o) for o in origin or []],
            kinds=[str(k) for k in kind or []],
            assigned_to=assigned_to,
            overdue=overdue,
        )
        rows, cursor = await inbox.messages_page(page, where, sort)
        now = utcnow()
        return MessagePage(items=[MessageOut.of_row(r, now) for r in rows], next_cursor=cursor)

    @get(
        "/{message_id:uuid}",
        opt={**READ, "partial_etag": True},
        summary="A message, its notes and answers",
    )
    async def get_inbox_message(
        self,
        inbox: NamedDependency[InboxService],
        answers: NamedDependency[AnswerService],
        message_id: FromPath[uuid.UUID],
    ) -> Response[MessageDetail]:
        return await _detail(inbox, answers, await inbox.get(message_id))

    @patch(
        "/{message_id:uuid}",
        opt=MODERATE,
        summary="Triage a message: origin, type, status, assignee",
    )
    async def update_inbox_message(
        self,
        inbox: NamedDependency[InboxService],
        answers: NamedDependency[AnswerService],
        message_id: FromPath[uuid.UUID],
        data: JSONBody[MessageUpdate],
        if_match: IfMatch = None,
    ) -> Response[MessageDetail]:
        """Needs `If-Match`. An origin or type set here replaces the rules' label and says who
        set it; the deadline follows the origin."""
        return await _detail(inbox, answers, await inbox.update(message_id, data, if_match))

    @post("/{message_id:uuid}/notes", opt=ANSWER, summary="Add an internal note to a message")
    async def add_inbox_note(
        self,
        inbox: NamedDependency[InboxService],
        message_id: FromPath[uuid.UUID],
        data: JSONBody[NoteIn],
    ) -> Response[NoteOut]:
        return Response(NoteOut.of(await inbox.add_note(message_id, data.text)), status_code=201)

    @post(
        "/{message_id:uuid}/answers",
        opt=ANSWER,
        summary="Answer a message in public (sent once by a job; held in a crisis)",
    )
    async def answer_inbox_message(
        self,
        answers: NamedDependency[AnswerService],
        message_id: FromPath[uuid.UUID],
        data: JSONBody[AnswerIn],
        idempotency: IdempotencyGuard,
    ) -> Response[AnswerOut]:
        """`text`, or a `saved_reply_id` with its placeholders filled in. Checked against the
        network's limit for a reply and the brand's editorial charter (422 listing every
        problem); 202: queued, or `held` while the brand is in crisis."""
        return Response(AnswerOut.of(await answers.create(message_id, data)), status_code=202)

    @post(
        "/{message_id:uuid}/hide",
        opt=MODERATE,
        status_code=202,
        summary="Hide (or show again) a message at the network, citing the community charter",
    )
    async def hide_inbox_message(
        self,
        inbox: NamedDependency[InboxService],
        message_id: FromPath[uuid.UUID],
        data: JSONBody[HideIn],
    ) -> Response[ModerationOut]:
        """`clause`: the number of the brand's community charter clause that justifies it
        (422 without one); kept with the message and in the audit log. 202: the action is
        recorded and the worker carries it out; the message's `moderation` follows it."""
        moderation = await inbox.moderate(message_id, "hide", data.clause, data.hidden)
        return Response(ModerationOut.of(moderation), status_code=202)

    @post(
        "/{message_id:uuid}/delete",
        opt=MODERATE,
        status_code=202,
        summary="Delete a message at the network, citing the community charter",
    )
    async def delete_inbox_message(
        self,
        inbox: NamedDependency[InboxService],
        message_id: FromPath[uuid.UUID],
        data: JSONBody[ModerationIn],
    ) -> Response[ModerationOut]:
        """As hiding: 202, carried out by the worker."""
        moderation = await inbox.moderate(message_id, "delete", data.clause)
        return Response(ModerationOut.of(moderation), status_code=202)


class ThreadController(Controller):
    path = "/inbox/threads"
    tags = ["Inbox"]
    dependencies = {"inbox": provide_runtime_service(InboxService)}

    @get("/{thread_id:uuid}", opt=READ, summary="The conversation under one post")
    async def get_inbox_thread(
        self, inbox: NamedDependency[InboxService], thread_id: FromPath[uuid.UUID]
    ) -> ThreadOut:
        thread, messages, answers = await inbox.thread(thread_id)
        return ThreadOut.of(thread, messages, answers, utcnow())


class AnswerController(Controller):
    path = "/inbox/answers"
    tags = ["Inbox"]
    dependencies = {"answers": provide_runtime_service(AnswerService)}

    @get("/{answer_id:uuid}", opt=READ, summary="An answer and its attempts")
    async def get_inbox_answer(
        self, answers: NamedDependency[AnswerService], answer_id: FromPath[uuid.UUID]
    ) -> AnswerOut:
        answer, attempts = await answers.get(answer_id)
        return AnswerOut.of(answer, attempts)

    @post(
        "/{answer_id:uuid}/approve",
        opt=APPROVE,
        status_code=200,
        summary="Let an answer the crisis held leave (a crisis decision maker, not its author)",
    )
    async def approve_inbox_answer(
        self, answers: NamedDependency[AnswerService], answer_id: FromPath[uuid.UUID]
    ) -> AnswerOut:
        return AnswerOut.of(await answers.approve(answer_id))

    @post(
        "/{answer_id:uuid}/cancel",
        opt=ANSWER,
        status_code=200,
        summary="Stop an answer that is held or queued",
    )
    async def cancel_inbox_answer(
        self, answers: NamedDependency[AnswerService], answer_id: FromPath[uuid.UUID]
    ) -> AnswerOut:
        return AnswerOut.of(await answers.cancel(answer_id))


def _rules_out(brand_id: uuid.UUID, rules: Any) -> Response[RulesOut]:
    found = {
        "handles": rules.handles if rules else {},
        "origin_keywords": rules.origin_keywords if rules else {},
        "type_keywords": rules.type_keywords if rules else {},
        "sla": rules.sla if rules else {},
    }
    version = rules.version if rules else 0
    out = RulesOut(
        brand_id=brand_id,
        handles=found["handles"],
        origin_keywords=found["origin_keywords"],
        type_keywords=found["type_keywords"],
        sla=msgspec.convert(triage.effective_sla(found), Sla),
        etag=etag(version),
    )
    return Response(out, headers={"ETag": etag(version)})


class BrandInboxController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Inbox"]
    dependencies = {"inbox": provide_runtime_service(InboxService)}

    @get("/inbox-rules", opt=READ, summary="The brand's triage rules and answer deadlines")
    async def get_inbox_rules(
        self, inbox: NamedDependency[InboxService], brand_id: FromPath[uuid.UUID]
    ) -> Response[RulesOut]:
        found_brand, rules = await inbox.get_rules(brand_id)
        return _rules_out(found_brand, rules)

    @put("/inbox-rules", opt=RULES, summary="Replace the brand's triage rules and deadlines")
    async def put_inbox_rules(
        self,
        inbox: NamedDependency[InboxService],
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[RulesIn],
        if_match: IfMatch = None,
    ) -> Response[RulesOut]:
        """Needs `If-Match` (`"0"` before the first change). Messages already triaged keep
        their labels and deadlines."""
        rules = await inbox.put_rules(brand_id, data, if_match)
        return _rules_out(rules.brand_id, rules)

    @get("/saved-replies", opt=READ, summary="The brand's saved replies")
    async def list_saved_replies(
        self, inbox: NamedDependency[InboxService], brand_id: FromPath[uuid.UUID], page: Paging
    ) -> SavedReplyPage:
        rows, cursor = await inbox.saved_replies(brand_id, page)
        return SavedReplyPage(items=[SavedReplyOut.of(s) for s in rows], next_cursor=cursor)

    @post("/saved-replies", opt=ANSWER, summary="Save a reply (placeholders: {author}...)")
    async def create_saved_reply(
        self,
        inbox: NamedDependency[InboxService],
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[SavedReplyIn],
        idempotency: IdempotencyGuard,
    ) -> Response[SavedReplyOut]:
        """Placeholders: `{author}` (the author's handle), `{first_name}`, `{brand}`; any
        other is refused (422)."""
        saved = await inbox.add_saved_reply(brand_id, data)
        return Response(SavedReplyOut.of(saved), status_code=201)


class SavedReplyController(Controller):
    path = "/saved-replies"
    tags = ["Inbox"]
    dependencies = {"inbox": provide_runtime_service(InboxService)}

    @delete("/{saved_reply_id:uuid}", opt=ANSWER, summary="Delete a saved reply")
    async def delete_saved_reply(
        self, inbox: NamedDependency[InboxService], saved_reply_id: FromPath[uuid.UUID]
    ) -> None:
        await inbox.delete_saved_reply(saved_reply_id)


ROUTES: list[Any] = [
    MessageController,
    ThreadController,
    AnswerController,
    BrandInboxController,
    SavedReplyController,
]
