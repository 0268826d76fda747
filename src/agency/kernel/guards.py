"""Request guards that run before any parameter or body is decoded.

PostgreSQL cannot store U+0000 in text or jsonb, and no legitimate name, message or filter
holds it: a request carrying one is refused as invalid input naming where it is, instead of
failing deep inside the database driver.
"""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import Request

from agency.kernel.errors import FieldError, InvalidInput, invalid_fields
from agency.kernel.i18n import Text

# \u0000 escaped in JSON, preceded by an even number of backslashes (so not "\\u0000" text).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_URL_NUL = re.compile(rb"%00|\x00")


def _pointer_to_nul(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding U+0000 in a decoded JSON value."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return child
            found = _pointer_to_nul(item, child)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _pointer_to_nul(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def _refuse(field: str | None, source: str) -> InvalidInput:
    message = Text("Contains the NUL character (U+0000), which text may not hold.")
    return invalid_fields([FieldError(message, "nul_character", field, source)])


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """A Litestar ``before_request`` hook: 422 if the URL or the JSON body holds U+0000."""
    scope = request.scope
    if _URL_NUL.search(scope.get("query_string", b"")):
        bad = next((k for k, v in request.query_params.multi_items() if "\x00" in k + v), "")
        raise _refuse(bad or None, "query")
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    if _URL_NUL.search(raw_path):
        raise _refuse(None, "path")
    # A route that streams its body (a media upload) checks its own text fields.
    if request.method not in {"POST", "PUT", "PATCH"} or request.route_handler.opt.get(
        "streamed_body"
    ):
        return
    body = await request.body()
    if not _JSON_NUL.search(body):
        return
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return  # malformed JSON: the decoder's own 400 says what is wrong
    field = _pointer_to_nul(decoded)
    if field:
        raise _refuse(field, "body")
