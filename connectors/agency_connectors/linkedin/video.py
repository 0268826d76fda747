"""A video for a LinkedIn post, through the Videos API.

https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/videos-api:
``POST /rest/videos?action=initializeUpload`` declares the owner and the file's size and
answers the video URN with upload instructions (a byte range and a URL each); each range is
PUT to its URL, and LinkedIn answers each part with an ETag; ``finalizeUpload`` names the
ETags in order with the upload token. LinkedIn then processes the video: ``GET
/rest/videos/{urn}`` says ``PROCESSING`` until ``AVAILABLE`` (or ``PROCESSING_FAILED``), and
the post waits for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agency.connector import InvalidContent, Media, Problem, Transient

if TYPE_CHECKING:
    from agency_connectors.linkedin.connector import LinkedInConnector


def _missing(words: str, code: str) -> InvalidContent:
    return InvalidContent([Problem("media.0", words, code)])


async def _send_parts(li: LinkedInConnector, video: Media, instructions: list[Any]) -> list[str]:
    """PUT each byte range to its URL, in order; the ETags LinkedIn answered."""
    if video.source is None:
        raise _missing("The video file is not available.", "media_missing")
    chunks, pending, etags = aiter(video.source.chunks()), bytearray(), []
    for part in sorted(instructions, key=lambda p: int(p["firstByte"])):
        size = int(part["lastByte"]) - int(part["firstByte"]) + 1
        while len(pending) < size:
            try:
                pending += await anext(chunks)
            except StopAsyncIteration:
                words = f"The video file is shorter than the {video.size} bytes announced."
                raise _missing(words, "media_size_mismatch") from None
        piece = bytes(pending[:size])
        del pending[:size]
        headers = {"Content-Type": "application/octet-stream"}
        response = await li._send("PUT", part["uploadUrl"], content=piece, headers=headers)
        etag = response.headers.get("etag")
        if not etag:
            raise Transient("LinkedIn did not confirm a part of the video; it will be sent again.")
        etags.append(etag)
    return etags


async def _until_available(li: LinkedInConnector, video_urn: str) -> None:
    for attempt in range(li.video_poll_attempts):
        # Rest.li 2.0: the URN travels percent-encoded.
        found = await li._json("GET", f"/rest/videos/{quote(video_urn, safe='')}")
        status = found.get("status")
        if status == "AVAILABLE":
            return
        if status == "PROCESSING_FAILED":
            why = found.get("processingFailureReason") or "no reason given"
            raise _missing(f"LinkedIn could not process the video ({why}).", "media_processing")
        if attempt + 1 < li.video_poll_attempts:
            await asyncio.sleep(li.video_poll_seconds)
    raise Transient("LinkedIn is still processing the video; the post will be tried again.")


async def upload_video(li: LinkedInConnector, owner: str, video: Media) -> str:
    """Upload ``video`` for ``owner``; its URN once LinkedIn has processed it."""
    request = {
        "owner": owner,
        "fileSizeBytes": video.size,
        "uploadCaptions": False,
        "uploadThumbnail": False,
    }
    started = await li._json(
        "POST",
        "/rest/videos",
        params={"action": "initializeUpload"},
        json={"initializeUploadRequest": request},
    )
    value = started["value"]
    video_urn = str(value["video"])
    etags = await _send_parts(li, video, value["uploadInstructions"])
    finalize = {
        "video": video_urn,
        "uploadToken": value.get("uploadToken") or "",
        "uploadedPartIds": etags,
    }
    await li._send(
        "POST",
        "/rest/videos",
        params={"action": "finalizeUpload"},
        json={"finalizeUploadRequest": finalize},
    )
    await _until_available(li, video_urn)
    return video_urn
