"""The parts of the OpenAPI document that no single route declares: the ``webhooks`` section
(every event this API sends, and its payload) and the examples of request and response bodies.

Both are derived, never written per route: the webhook payloads are the Structs the
domains emit (:data:`agency.webhook.events.PAYLOADS`), rendered by Litestar's own schema
machinery so they read like the rest of the document; the examples are built from each
body's schema (see :mod:`agency.examples`), so they validate against it by construction
and a test checks that they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Litestar

# Litestar builds component schemas with these; they are not exported.
from litestar._openapi.datastructures import SchemaRegistry
from litestar._openapi.schema_generation import SchemaCreator
from litestar.openapi.spec import (
    BaseSchemaObject,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)
from litestar.typing import FieldDefinition

from agency.examples import Examples
from agency.webhook.events import PAYLOADS, PING

# Standard Webhooks (https://www.standardwebhooks.com): what every delivery carries.
WEBHOOK_HEADERS = {
    "webhook-id": "The event's id: the same on every retry and replay (skip one you have seen).",
    "webhook-timestamp": "Unix time of this attempt; refuse one more than five minutes away.",
    "webhook-signature": (
        "`v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}.{body}` with the "
        "subscription's secret; two, space-separated, for a day after a rotation."
    ),
}


def document_webhooks(app: Litestar, schema: OpenAPI) -> None:
    """One ``webhooks`` entry per event type, its body and headers, and the payloads' schemas
    among the components."""
    creator = SchemaCreator(plugins=app.plugins.openapi, schema_registry=SchemaRegistry())
    references = {
        struct: creator.for_field_definition(FieldDefinition.from_annotation(struct))
        for struct in set(PAYLOADS.values())
    }
    _merge_components(schema, creator.schema_registry.generate_components_schemas())
    webhooks: dict[str, PathItem | Reference] = {}
    for event_type, struct in sorted(PAYLOADS.items()):
        reference = references[struct]
        envelope = Schema(
            type=OpenAPIType.OBJECT,
            required=["type", "timestamp", "data"],
            properties={
                "type": Schema(type=OpenAPIType.STRING, const=event_type),
                "timestamp": Schema(type=OpenAPIType.STRING, format="date-time"),  # type: ignore[arg-type]
                "data": reference,
            },
        )
        summary = (struct.__doc__ or event_type).strip().splitlines()[0]
        webhooks[event_type] = PathItem(
            post=Operation(
                operation_id=_webhook_operation_id(event_type),
                summary=summary,
                description=(
                    "Sent to the subscription's URL"
                    + (" by `POST /webhooks/{id}/ping`." if event_type == PING else ".")
                    + " Answer 2xx within the timeout; anything else is retried."
                ),
                tags=["Webhooks"],
                parameters=[
                    Parameter(
                        name=name,
                        param_in="header",
                        required=True,
                        description=description,
                        schema=Schema(type=OpenAPIType.STRING),
                    )
                    for name, description in WEBHOOK_HEADERS.items()
                ],
                request_body=RequestBody(
                    required=True,
                    content={"application/json": OpenAPIMediaType(schema=envelope)},
                ),
                responses={
                    "2XX": OpenAPIResponse(description="Received; not sent again."),
                },
                security=[],
            )
        )
    schema.webhooks = webhooks


def _webhook_operation_id(event_type: str) -> str:
    """``publication.published`` -> ``onPublicationPublished``."""
    words = event_type.replace(".", "_").split("_")
    return "on" + "".join(word.title() for word in words)


def _merge_components(schema: OpenAPI, extra: dict[str, Schema]) -> None:
    """Add ``extra`` to the components; a name already there must be the same schema."""
    components = schema.components.schemas
    assert components is not None
    for name, found in extra.items():
        known = components.get(name)
        if known is None:
            components[name] = found
        elif isinstance(known, Schema) and _shape(known) != _shape(found):
            raise ValueError(
                f"two schemas named {name!r} in the OpenAPI document: "
                f"{known.to_schema()} and {found.to_schema()}"
            )
    schema.components.schemas = dict(sorted(components.items()))


def _shape(schema: Schema) -> dict[str, Any]:
    """A schema without what Litestar copies onto an enum from one field using it."""
    return {k: v for k, v in schema.to_schema().items() if k not in ("default", "description")}


def document_examples(schema: OpenAPI) -> None:
    """An example on every JSON request body and success answer (webhooks included)."""
    rendered: dict[str, Any] = schema.to_schema()
    examples = Examples(rendered)
    operations = [
        (path, method, operation)
        for group in (schema.paths or {}, schema.webhooks or {})
        for path, item in group.items()
        if isinstance(item, PathItem)
        for method in ("get", "put", "post", "patch", "delete")
        if (operation := getattr(item, method)) is not None
    ]
    webhooks = {
        id(item.post) for item in (schema.webhooks or {}).values() if isinstance(item, PathItem)
    }
    for _, _, operation in operations:
        body = operation.request_body
        if isinstance(body, RequestBody):
            # A webhook's body is one we send: every field, like an answer.
            _exemplify(body.content, examples, request=id(operation) not in webhooks)
        for status, response in (operation.responses or {}).items():
            if status.startswith("2") and isinstance(response, OpenAPIResponse):
                _exemplify(response.content or {}, examples, request=False)


def _exemplify(content: dict[str, OpenAPIMediaType], examples: Examples, *, request: bool) -> None:
    for media_type, media in content.items():
        if not media_type.endswith("json") or media.schema is None:
            continue
        rendered = media.schema.to_schema()
        if rendered.get("type") == "null":
            continue
        media.example = Verbatim(examples.value(rendered, request=request))


@dataclass
class Verbatim(BaseSchemaObject):
    """A value rendered as it is: Litestar drops ``None`` from the objects it renders, and an
    example's ``null`` fields must stay."""

    value: Any

    def to_schema(self) -> Any:
        return self.value
