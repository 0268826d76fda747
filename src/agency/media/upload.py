"""A multipart upload read off the wire into a temporary file, hashed and counted on the way.

The upload route opts out of the app's body limit and of every body-reading hook, so that
a video of hundreds of megabytes never sits in memory: this parser reads the request stream
chunk by chunk, writes the ``file`` part to a temporary file while computing its SHA-256,
and stops with 413 the moment the file passes ``AGENCY_MEDIA__MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
from litestar import Request
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from agency.kernel.decoding import MalformedBody
from agency.kernel.errors import FieldError, InvalidInput
from agency.kernel.i18n import Text
from agency.media.inspection import MediaTooLarge

FILE_FIELD = "file"
ALT_TEXT_FIELD = "alt_text"
MAX_ALT_TEXT = 1500
# Room for the multipart framing and the alt_text part around the file itself.
FRAMING_ALLOWANCE = 64 * 1024
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass
class Upload:
    path: Path
    size: int
    sha256: str
    filename: str | None
    alt_text: str | None
    declared_type: str | None


def _limit_words(limit: int) -> str:
    return f"{limit / 1_048_576:g} MiB" if limit >= 1_048_576 else f"{limit} bytes"


def _clean_filename(raw: str | None) -> str | None:
    """The name the user knows the file by, for display only (storage keys are ids)."""
    if not raw:
        return None
    name = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", raw)).strip().lstrip(".")
    return name[-300:] or None


def _boundary(request: Request[Any, Any, Any]) -> str:
    content_type, options = request.content_type
    if content_type != "multipart/form-data":
        raise MalformedBody("Send the file as multipart/form-data with a part named 'file'.")
    boundary = options.get("boundary")
    if not boundary:
        raise MalformedBody("The multipart Content-Type has no boundary.")
    return boundary


class _Receiver:
    def __init__(self, spool: IO[bytes], max_bytes: int) -> None:
        self.spool = spool
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.size = 0
        self.files = 0
        self.filename: str | None = None
        self.declared_type: str | None = None
        self.alt_text: bytearray | None = None
        self.current: str | None = None

    async def feed(self, parts: list[MultipartSegment | bytearray | None]) -> None:
        for part in parts:
            if isinstance(part, MultipartSegment):
                self.begin(part)
            elif part is None:
                self.current = None
            elif self.current == FILE_FIELD:
                await self.write_file(bytes(part))
            elif self.current == ALT_TEXT_FIELD and self.alt_text is not None:
                self.alt_text.extend(part)
                if len(self.alt_text) > MAX_ALT_TEXT * 4:
                    raise self.bad_alt_text()

    def begin(self, segment: MultipartSegment) -> None:
        name = segment.name
        if name == FILE_FIELD:
            self.files += 1
            if self.files > 1 or segment.filename is None:
                raise InvalidInput(
                    "Send exactly one file, in a part named 'file' with a filename.",
                    errors=[
                        {"field": FILE_FIELD, "code": "one_file", "message": "one file expected"}
                    ],
                )
            self.filename = _clean_filename(segment.filename)
            self.declared_type = segment.content_type
        elif name == ALT_TEXT_FIELD and self.alt_text is None:
            self.alt_text = bytearray()
        else:
            raise InvalidInput(
                f"Unexpected form field {name!r}: send 'file' and, optionally, 'alt_text'.",
                errors=[
                    FieldError(Text("Unknown field: not accepted here."), "unknown_field", name)
                ],
            )
        self.current = name

    async def write_file(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise MediaTooLarge(
                f"The file is larger than the {_limit_words(self.max_bytes)} accepted.",
                max_bytes=self.max_bytes,
            )
        self.digest.update(data)
        await anyio.to_thread.run_sync(self.spool.write, data)

    def bad_alt_text(self) -> InvalidInput:
        message = Text("At most {n} characters of UTF-8 text, without U+0000.", n=MAX_ALT_TEXT)
        return InvalidInput(
            f"alt_text is at most {MAX_ALT_TEXT} characters of text without U+0000.",
            errors=[
                FieldError(
                    message,
                    "invalid_text",
                    ALT_TEXT_FIELD,
                    params={"max": MAX_ALT_TEXT},
                )
            ],
        )

    def decoded_alt_text(self) -> str | None:
        if self.alt_text is None:
            return None
        try:
            text = self.alt_text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.bad_alt_text() from exc
        if len(text) > MAX_ALT_TEXT or "\x00" in text:
            raise self.bad_alt_text()
        return text.strip() or None


@asynccontextmanager
async def receive_upload(request: Request[Any, Any, Any], max_bytes: int) -> AsyncIterator[Upload]:
    """Read the request's multipart body into a temporary file, removed on leaving."""
    boundary = _boundary(request)
    announced = request.headers.get("content-length")
    if announced and announced.isdigit() and int(announced) > max_bytes + FRAMING_ALLOWANCE:
        raise MediaTooLarge(
            f"The request is larger than the {_limit_words(max_bytes)} accepted.",
            max_bytes=max_bytes,
        )
    spool = await anyio.to_thread.run_sync(
        lambda: tempfile.NamedTemporaryFile(prefix="agency-upload-", delete=False)  # noqa: SIM115
    )
    path = Path(spool.name)
    try:
        receiver = _Receiver(spool, max_bytes)
        try:
            with PushMultipartParser(boundary, max_segment_count=4) as parser:
                async for chunk in request.stream():
                    await receiver.feed(list(parser.parse(chunk)))
                    if parser.closed:
                        break
        except (ParserError, ParserLimitReached) as exc:
            raise MalformedBody(f"The multipart body is malformed: {exc}.") from exc
        await anyio.to_thread.run_sync(spool.close)
        if receiver.files == 0:
            raise InvalidInput(
                "No file was sent: add a part named 'file'.",
                errors=[FieldError(Text("Required."), "required", FILE_FIELD)],
            )
        yield Upload(
            path=path,
            size=receiver.size,
            sha256=receiver.digest.hexdigest(),
            filename=receiver.filename,
            alt_text=receiver.decoded_alt_text(),
            declared_type=receiver.declared_type,
        )
    finally:
        with suppress(OSError):
            await anyio.to_thread.run_sync(spool.close)
        await anyio.Path(path).unlink(missing_ok=True)
