"""Every e-mail the agency's account sent or is sending, and the outbox's ``.eml`` files."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from agency.access.permissions import Permission
from agency.kernel.deps import Paging, provide_runtime_service
from agency.mail.schemas import MailOut, MailPage, MailState
from agency.mail.service import MailLogService

EML = "message/rfc822"
# The log names recipients and what happened to each message: those who read the audit log.
READ = {"permission": Permission.AUDIT_READ}


class MailController(Controller):
    path = "/mail/messages"
    tags = ["E-mail"]
    dependencies = {"mail_log": provide_runtime_service(MailLogService)}

    @get(opt=READ, summary="The e-mails sent for this agency, newest first")
    async def list_mail_messages(
        self,
        mail_log: NamedDependency[MailLogService],
        page: Paging,
        status: Annotated[
            MailState | None, QueryParameter(description="Only messages in this state.")
        ] = None,
        recipient: Annotated[
            str | None,
            QueryParameter(description="Only messages to this address.", max_length=320),
        ] = None,
    ) -> MailPage:
        """Invitations, sign-in links, reports: one row per message and recipient, with its
        attempts and the server's last answer. With no SMTP server configured, messages go
        to the outbox folder: ``outbox_file`` names the file, and ``/eml`` reads it."""
        rows, cursor = await mail_log.list(page, status, recipient)
        return MailPage(items=[MailOut.of(m) for m in rows], next_cursor=cursor)

    @get("/{mail_id:uuid}", opt=READ, summary="One e-mail and what became of it")
    async def get_mail_message(
        self, mail_id: FromPath[uuid.UUID], mail_log: NamedDependency[MailLogService]
    ) -> MailOut:
        return MailOut.of(await mail_log.get(mail_id))

    @get(
        "/{mail_id:uuid}/eml",
        opt={"permission": Permission.AGENCY_MANAGE},
        media_type=EML,
        summary="The .eml file an e-mail became in the outbox (no SMTP server configured)",
        response_description="The message as written to the outbox (RFC 5322).",
    )
    async def get_mail_message_eml(
        self, mail_id: FromPath[uuid.UUID], mail_log: NamedDependency[MailLogService]
    ) -> Response[bytes]:
        """The whole message, as a mail program opens it. It may hold a sign-in link, so
        only those who manage the agency read it."""
        name, body = await mail_log.eml(mail_id)
        return Response(
            body,
            media_type=EML,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


ROUTES: list[Any] = [MailController]
