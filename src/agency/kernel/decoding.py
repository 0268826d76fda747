"""Request bodies decoded in one place, so a malformed body is a 400 on every route.

Litestar turns msgspec's ``DecodeError`` into a 400, but not the two other ways decoding
fails: bytes that are not UTF-8 (``UnicodeDecodeError``) and nesting deeper than the
interpreter's stack (``RecursionError``, from about a thousand levels). Both escaped as 500s
with a traceback. Every route reads its body through :class:`AgencyRequest` (the app's
``request_class``), which answers them as problems, and also refuses JSON nested deeper than
``MAX_JSON_DEPTH``: a body that decodes at 900 levels can still exhaust the stack later, when
the same value is encoded for a ``jsonb`` column or an answer.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from agency.kernel.errors import AppError, FieldError
from agency.kernel.i18n import N_

# No document this API takes nests beyond a handful of levels.
MAX_JSON_DEPTH = 32


class MalformedBody(AppError):
    status_code = 400
    type_slug = "malformed-body"
    title = N_("Malformed request body")
    explanation = N_(
        "The request body cannot be read: it is not valid JSON (or not the encoding its "
        "Content-Type names), not UTF-8, or nested deeper than the API accepts. Nothing was "
        "stored."
    )


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit``; iterative, so it cannot overflow."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _malformed(reason: str) -> MalformedBody:
    return MalformedBody(
        f"The request body is malformed: {reason}.",
        errors=[FieldError(reason, "malformed", None, "body")],
    )


class AgencyRequest(Request[Any, Any, Any]):
    """The app's request class: body decoding that fails only with 4xx problems."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except UnicodeDecodeError as exc:
            raise _malformed(f"not valid UTF-8 (byte {exc.start})") from None
        except RecursionError:
            raise _malformed(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        if json_depth_exceeds(value, MAX_JSON_DEPTH):
            raise _malformed(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return value

    async def msgpack(self) -> Any:
        try:
            value = await super().msgpack()
        except (UnicodeDecodeError, RecursionError):
            raise _malformed("not valid MessagePack") from None
        if json_depth_exceeds(value, MAX_JSON_DEPTH):
            raise _malformed(f"nested deeper than {MAX_JSON_DEPTH} levels")
        return value
