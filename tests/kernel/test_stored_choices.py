"""Columns that the answers read back as an enumeration refuse any other value when written:
a worker writing a state the answers do not know would otherwise break every read of that
row (a 500 on GET) instead of failing where the mistake is."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.exc import StatementError

from agency.brand.models import CrisisEvent
from agency.channel.models import Channel, Connection
from agency.inbox.models import Answer, AnswerAttempt, Message, Moderation, Note
from agency.kernel.db import Choice
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from agency.mail.models import MailMessage
from agency.publication.models import Attempt, Publication, Variant
from agency.report_mail.models import ReportDelivery, ReportRun
from agency.webhook.models import WebhookDelivery
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel

STATES = [
    (Publication, "status"),
    (Variant, "status"),
    (Variant, "first_comment_status"),
    (Attempt, "kind"),
    (Attempt, "outcome"),
    (CrisisEvent, "kind"),
    (CrisisEvent, "actor_kind"),
    (Channel, "health"),
    (Connection, "status"),
    (MailMessage, "status"),
    (ReportRun, "status"),
    (ReportDelivery, "status"),
    (WebhookDelivery, "status"),
    (Message, "origin"),
    (Message, "kind"),
    (Message, "status"),
    (Note, "author_kind"),
    (Answer, "status"),
    (Answer, "author_kind"),
    (AnswerAttempt, "kind"),
    (AnswerAttempt, "outcome"),
    (Moderation, "status"),
]


@pytest.mark.parametrize(("model", "column"), STATES, ids=lambda v: getattr(v, "__name__", v))
def test_state_columns_declare_their_choices(model: type, column: str) -> None:
    kind = model.__table__.c[column].type  # type: ignore[attr-defined]
    assert isinstance(kind, Choice), f"{model.__name__}.{column} is {kind!r}"


async def test_an_unknown_state_is_refused_when_written_and_nothing_is_saved(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(client, tenant_a)
    channel_id = uuid.UUID(
        await insert_channel(runtime, tenant_a.agency_id, brand_id, "mastodon", "tok")
    )
    async with runtime.session() as session:
        await bind_tenant(session, tenant_a.agency_id)
        channel = await session.get(Channel, channel_id)
        assert channel is not None
        channel.health = "sleepy"
        with pytest.raises(StatementError) as refused:
            await session.commit()
        assert "'sleepy' is not a ChannelHealth" in str(refused.value)
        assert "needs_reconnect" in str(refused.value)
    async with runtime.session() as session:
        await bind_tenant(session, tenant_a.agency_id)
        stored = await session.get(Channel, channel_id)
        assert stored is not None and stored.health == "ok"
    # The answers read it as ever.
    shown = await client.get(f"/channels/{channel_id}", headers=tenant_a.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["health"] == "ok"
