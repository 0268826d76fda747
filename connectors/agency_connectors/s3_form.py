"""Sending a file to Amazon S3 through a presigned POST form that a network handed out.

S3's browser-based upload (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTForms.html) is one
multipart/form-data POST: every field the network gave (key, policy, signature...) and then
the file, which must be the last field (S3 ignores fields after it). S3 answers 204 by default,
and a failure as an XML ``<Error>`` with a ``Code`` and a ``Message``
(https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).

The form is written here rather than by httpx because httpx encodes only files it can read
synchronously, and a video of gigabytes should stream from storage, not sit in memory; its
length is known in advance, so the request carries a Content-Length (S3 refuses a POST
without one).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Mapping

import httpx

from agency.connector import AuthExpired, InvalidContent, Media, Problem, Refused
from agency.connector.http import call

S3_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
# What HTML forms (and httpx) do to a field name: quotes and line breaks cannot stay.
NAME_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})


def _s3_words(response: httpx.Response) -> str | None:
    found = S3_MESSAGE.search(response.text)
    return f"The upload storage answered: {found.group(1)}" if found else None


def _part(boundary: str, name: str, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name.translate(NAME_ESCAPES)}"{extra}'
    return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()


def _file_size_problem(media: Media, sent: int) -> InvalidContent:
    words = f"The file is {sent} bytes, not the {media.size} bytes announced."
    return InvalidContent([Problem("media.0", words, "media_size_mismatch")])


async def post_form(
    http: httpx.AsyncClient, url: str, fields: Mapping[str, str], media: Media
) -> None:
    """POST ``media``'s bytes to ``url`` with ``fields`` first, as S3's POST form wants.

    S3's failures are typed by status (5xx: Transient, others: Refused).
    """
    if media.source is None:
        problem = Problem("media.0", "The file is not available to send.", "no_file")
        raise InvalidContent([problem])
    source, boundary = media.source, secrets.token_hex(16)
    head = b"".join(
        _part(boundary, name) + f"\r\n{value}\r\n".encode() for name, value in fields.items()
    )
    head += _part(boundary, "file", '; filename="file"')
    head += f"Content-Type: {media.mime_type}\r\n\r\n".encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        sent = 0
        async for chunk in source.chunks():
            sent += len(chunk)
            if sent > media.size:
                raise _file_size_problem(media, sent)
            yield chunk
        if sent != media.size:
            raise _file_size_problem(media, sent)
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + media.size + len(tail)),
    }
    try:
        await call(lambda: http.post(url, content=body(), headers=headers), describe=_s3_words)
    except AuthExpired as exc:
        # The form carries its own signature: a 401 there says nothing of the channel's token.
        raise Refused(exc.message, status=exc.status) from exc
