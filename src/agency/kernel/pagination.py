"""Cursor pagination over time-ordered ids: newest first, stable under inserts."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, TypeVar

import msgspec
from litestar.params import QueryParameter

from agency.kernel.errors import AppError
from agency.kernel.i18n import N_, Text

T = TypeVar("T")


class InvalidCursor(AppError):
    status_code = 400
    type_slug = "invalid-cursor"
    title = N_("Invalid cursor")
    explanation = N_(
        "The cursor parameter is not one this API gave: pass back the next_cursor of the "
        "previous page as it is, or leave it out to start from the first page."
    )


class PageRequest(msgspec.Struct, frozen=True):
    after_id: uuid.UUID | None
    limit: int


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 16:
            raise ValueError("wrong length")
        return uuid.UUID(bytes=raw)
    except (ValueError, binascii.Error) as exc:
        raise InvalidCursor(
            Text("The cursor is not one this API returned; start again without it.")
        ) from exc


async def provide_page_request(
    cursor: Annotated[
        str | None,
        QueryParameter(
            name="cursor", required=False, max_length=64, description="From next_cursor."
        ),
    ] = None,
    limit: Annotated[
        int, QueryParameter(name="limit", ge=1, le=200, description="Page size.")
    ] = 50,
) -> PageRequest:
    return PageRequest(after_id=decode_cursor(cursor) if cursor else None, limit=limit)
