"""Webhook subscriptions, their delivery log, pings and replays (``webhooks:manage``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.kernel.deps import (
    IdempotencyGuard,
    IfMatch,
    Paging,
    provide_runtime_service,
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
    dependencies = {"webhooks": provide_runtime_service(WebhookService)}

    @post(opt=MANAGE, summary="Subscribe an endpoint to events (the secret is shown once)")
    async def create_webhook(
        self,
        data: JSONBody[WebhookCreate],
        webhooks: NamedDependency[WebhookService],
        idempotency: IdempotencyGuard,
    ) -> Response[WebhookWithSecret]:
        """Keep ``secret``: it verifies our signatures and is never shown again (rotate it to
        get a new one)."""
        webhook, secret = await webhooks.create(data)
        return Response(
            WebhookWithSecret.with_secret(webhook, secret),
            status_code=201,
            headers={"ETag": etag(webhook.version)},
        )

    @get(opt=MANAGE, summary="List webhook subscriptions")
    async def list_webhooks(
        self,
        webhooks: NamedDependency[WebhookService],
        page: Paging,
    ) -> WebhookPage:
        rows, cursor = await webhooks.list(page)
        return WebhookPage(items=[WebhookOut.of(w) for w in rows], next_cursor=cursor)

    @get("/{webhook_id:uuid}", opt=MANAGE, summary="Get a webhook subscription")
    async def get_webhook(
        self,
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> Response[WebhookOut]:
        webhook = await webhooks.get(webhook_id)
        return Response(WebhookOut.of(webhook), headers={"ETag": etag(webhook.version)})

    @patch(
        "/{webhook_id:uuid}",
        opt=MANAGE,
        summary="Change a subscription (only the fields sent); disable with enabled=false",
    )
    async def update_webhook(
        self,
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[WebhookUpdate],
        webhooks: NamedDependency[WebhookService],
        if_match: IfMatch,
    ) -> Response[WebhookOut]:
        webhook = await webhooks.update(webhook_id, data, if_match)
        return Response(WebhookOut.of(webhook), headers={"ETag": etag(webhook.version)})

    @delete("/{webhook_id:uuid}", opt=MANAGE, summary="Delete a subscription and its log")
    async def delete_webhook(
        self,
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> None:
        await webhooks.delete(webhook_id)

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        opt=MANAGE,
        status_code=200,
        summary="Replace the signing secret (the new one is shown once)",
    )
    async def rotate_webhook_secret(
        self,
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> Response[WebhookWithSecret]:
        """For 24 hours deliveries carry two signatures, one per secret, so receivers switch
        without losing a message."""
        webhook, secret = await webhooks.rotate_secret(webhook_id)
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
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryOut:
        """Follow the answer's delivery to see how the endpoint answered."""
        delivery = await webhooks.ping(webhook_id)
        return DeliveryOut.of(delivery)

    @get(
        "/{webhook_id:uuid}/deliveries",
        opt=MANAGE,
        summary="A subscription's delivery log, newest first",
    )
    async def list_webhook_deliveries(
        self,
        webhook_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
        page: Paging,
        status: Annotated[
            DeliveryStatus | None, QueryParameter(description="Only deliveries in this status.")
        ] = None,
    ) -> DeliveryPage:
        rows, cursor = await webhooks.list_deliveries(webhook_id, page, status)
        return DeliveryPage(items=[DeliveryOut.of(d) for d in rows], next_cursor=cursor)


class WebhookDeliveryController(Controller):
    path = "/webhook-deliveries"
    tags = ["Webhooks"]
    dependencies = {"webhooks": provide_runtime_service(WebhookService)}

    @get("/{delivery_id:uuid}", opt=MANAGE, summary="One delivery, with the payload sent")
    async def get_webhook_delivery(
        self,
        delivery_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryDetail:
        delivery, event = await webhooks.get_delivery(delivery_id)
        return DeliveryDetail.with_payload(delivery, event.body)

    @post(
        "/{delivery_id:uuid}/replay",
        opt=MANAGE,
        status_code=202,
        summary="Send the event of this delivery again, as a new delivery",
    )
    async def replay_webhook_delivery(
        self,
        delivery_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryOut:
        """The replay carries the same ``webhook-id`` as the original: receivers that already
        processed the event can recognise it."""
        delivery = await webhooks.replay(delivery_id)
        return DeliveryOut.of(delivery)


# The route handlers this domain adds to the API (registered in agency.app).
ROUTES: list[Any] = [WebhookController, WebhookDeliveryController]
