"""JSON bodies are decoded strictly: a value of another JSON type than the schema's is refused.

Litestar converts a decoded body into the handler's ``data`` type in msgspec's lax mode, which
query strings and headers need but a JSON body does not: ``"archived": 0`` read as false,
``"at": 0`` as 1970-01-01 and ``"publish_grace_minutes": "60"`` as 60, where the OpenAPI
document says boolean, date-time string and integer. This ``before_request`` hook converts the
decoded body (``request.json()``, which the app's request class guards against malformed and
deeply nested input and caches for Litestar) to the same type in strict mode first, so the
API refuses what its document refuses. A refused body is answered with every field that is
wrong, unknown ones included (:func:`agency.kernel.validation.body_errors`), in one 422.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg

from agency.kernel.errors import invalid_fields
from agency.kernel.validation import body_errors


def _json_body_type(handler: HTTPRouteHandler) -> Any:
    """The type of the handler's JSON ``data``, or None."""
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    body = field.kwarg_definition
    if isinstance(body, BodyKwarg) and body.media_type != RequestEncodingType.JSON:
        return None
    return field.annotation


async def refuse_loose_bodies(request: Request[Any, Any, Any]) -> None:
    """A Litestar ``before_request`` hook: 422 naming every field a strict decoding refuses."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    body_type = _json_body_type(request.route_handler)
    if body_type is None:
        return
    try:
        value = await request.json()
    except SerializationException:
        return  # not JSON: Litestar's own decoding answers it, a 400
    try:
        msgspec.convert(value, body_type, strict=True)
    except msgspec.ValidationError:
        raise invalid_fields(body_errors(value, body_type)) from None
    except TypeError:  # a type msgspec cannot convert alone: Litestar's conversion decides
        return
