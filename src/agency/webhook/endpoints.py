"""Webhook subscriptions, their delivery log, pings and replays (``webhooks:manage``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.kernel.deps import (
    AppRuntime,
    CurrentSubject,
    DbSession,
    IdempotencyGuard,
    IfMatch,
    Paging,
)
from agency.kernel.http import etag
from agency.webhook.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    WebhookCreate,
    WebhookOut,
    WebhookPage,
    WebhookUpdate,
    WebhookWithSecret,
)
from agency.webhook.service import WebhookService

MANAGE = {"permission": Permission.WEBHOOKS_MANAGE}


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["Webhooks"]

    @post(opt=MANAGE, summary="Subscribe an endpoint to events (the secret is shown once)")
    async def create_webhook(
        self,
        runtime: AppRuntime,
        data: JSONBody[WebhookCreate],
        db_session: DbSession,
        subject: CurrentSubject,
        idempotency: IdempotencyGuard,
    ) -> Response[WebhookWithSecret]:
        """Keep ``secret``: it verifies our signatures and is never shown again (rotate it to
        get a new one)."""
        webhook, secret = await WebhookService(db_session, subject, runtime).create(data)
        return Response(
            WebhookWithSecret.with_secret(webhook, secret),
            status_code=201,
            headers={"ETag": etag(webhook.version)},
        )

    @get(opt=MANAGE, summary="List webhook subscriptions")
    async def list_webhooks(
        self, runtime: AppRuntime, db_session: DbSession, subject: CurrentSubject, page: Paging
    ) -> WebhookPage:
        rows, cursor = await WebhookService(db_session, subject, runtime).list(page)
        return WebhookPage(items=[WebhookOut.of(w) for w in rows], next_cursor=cursor)

    @get("/{webhook_id:uuid}", opt=MANAGE, summary="Get a webhook subscription")
    async def get_webhook(
        self,
        runtime: AppRuntime,
        webhook_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> Response[WebhookOut]:
        webhook = await WebhookService(db_session, subject, runtime).get(webhook_id)
        return Response(WebhookOut.of(webhook), headers={"ETag": etag(webhook.version)})

    @patch(
        "/{webhook_id:uuid}",
        opt=MANAGE,
        summary="Change a subscription (only the fields sent); disable with enabled=false",
    )
    async def update_webhook(
        self,
        runtime: AppRuntime,
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[WebhookUpdate],
        db_session: DbSession,
        subject: CurrentSubject,
        if_match: IfMatch,
    ) -> Response[WebhookOut]:
        service = WebhookService(db_session, subject, runtime)
        webhook = await service.update(webhook_id, data, if_match)
        return Response(WebhookOut.of(webhook), headers={"ETag": etag(webhook.version)})

    @delete("/{webhook_id:uuid}", opt=MANAGE, summary="Delete a subscription and its log")
    async def delete_webhook(
        self,
        runtime: AppRuntime,
        webhook_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> None:
        await WebhookService(db_session, subject, runtime).delete(webhook_id)

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        opt=MANAGE,
        status_code=200,
        summary="Replace the signing secret (the new one is shown once)",
    )
    async def rotate_webhook_secret(
        self,
        runtime: AppRuntime,
        webhook_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> Response[WebhookWithSecret]:
        """For 24 hours deliveries carry two signatures, one per secret, so receivers switch
        without losing a message."""
        service = WebhookService(db_session, subject, runtime)
        webhook, secret = await service.rotate_secret(webhook_id)
        return Response(
            WebhookWithSecret.with_secret(webhook, secret), headers={"ETag": etag(webhook.version)}
        )

    @post(
        "/{webhook_id:uuid}/ping",
        opt=MANAGE,
        status_code=202,
        summary="Send a test event (webhook.ping) to this endpoint",
    )
    async def ping_webhook(
        self,
        runtime: AppRuntime,
        webhook_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> DeliveryOut:
        """Follow the answer's delivery to see how the endpoint answered."""
        delivery = await WebhookService(db_session, subject, runtime).ping(webhook_id)
        return DeliveryOut.of(delivery)

    @get(
        "/{webhook_id:uuid}/deliveries",
        opt=MANAGE,
        summary="A subscription's delivery log, newest first",
    )
    async def list_webhook_deliveries(
        self,
        runtime: AppRuntime,
        webhook_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
        page: Paging,
        status: Annotated[
            DeliveryStatus | None, QueryParameter(description="Only deliveries in this status.")
        ] = None,
    ) -> DeliveryPage:
        service = WebhookService(db_session, subject, runtime)
        rows, cursor = await service.list_deliveries(webhook_id, page, status)
        return DeliveryPage(items=[DeliveryOut.of(d) for d in rows], next_cursor=cursor)


class WebhookDeliveryController(Controller):
    path = "/webhook-deliveries"
    tags = ["Webhooks"]

    @get("/{delivery_id:uuid}", opt=MANAGE, summary="One delivery, with the payload sent")
    async def get_webhook_delivery(
        self,
        runtime: AppRuntime,
        delivery_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> DeliveryDetail:
        service = WebhookService(db_session, subject, runtime)
        delivery, event = await service.get_delivery(delivery_id)
        return DeliveryDetail.with_payload(delivery, event.body)

    @post(
        "/{delivery_id:uuid}/replay",
        opt=MANAGE,
        status_code=202,
        summary="Send the event of this delivery again, as a new delivery",
    )
    async def replay_webhook_delivery(
        self,
        runtime: AppRuntime,
        delivery_id: FromPath[uuid.UUID],
        db_session: DbSession,
        subject: CurrentSubject,
    ) -> DeliveryOut:
        """The replay carries the same ``webhook-id`` as the original: receivers that already
        processed the event can recognise it."""
        delivery = await WebhookService(db_session, subject, runtime).replay(delivery_id)
        return DeliveryOut.of(delivery)


# The route handlers this domain adds to the API (registered in agency.app).
ROUTES: list[Any] = [WebhookController, WebhookDeliveryController]
