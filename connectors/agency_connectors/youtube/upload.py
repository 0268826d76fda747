"""Google's resumable upload protocol, as YouTube documents it.

https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol: the bytes go
to the session URI in chunks (multiples of 256 KiB but the last) with a Content-Range; YouTube
answers 308 Resume Incomplete with the Range it holds until the last byte is in. When a chunk
fails, ``bytes */total`` asks how much YouTube kept and the upload goes on from there.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import httpx

from agency.connector import InvalidContent, Media, OutcomeUnknown, Problem, Transient
from agency.connector.http import error_for, json_body
from agency_connectors.youtube.google import google_error, refine

CHUNK_GRANULE = 256 * 1024


@dataclass(frozen=True)
class ResumableUpload:
    http: httpx.AsyncClient
    session_url: str
    auth: dict[str, str]
    chunk_size: int
    max_resumes: int
    backoff_seconds: float

    async def send(self, video: Media) -> dict[str, Any]:
        """Send the bytes from where YouTube says it stands; the video resource at the end."""
        if video.source is None:
            problem = Problem("media.0", "The video file is not available.", "media_missing")
            raise InvalidContent([problem])
        total, size = video.size, self.chunk_size
        chunks = video.source.chunks(size).__aiter__()
        confirmed, pending, exhausted, resumes = 0, bytearray(), False, 0
        while True:
            while not exhausted and len(pending) < size:
                try:
                    pending += await anext(chunks)
                except StopAsyncIteration:
                    exhausted = True
            have = confirmed + len(pending)
            if have > total or (exhausted and have < total):
                words = f"The video file holds {have} bytes, not the {total} announced."
                raise InvalidContent([Problem("media.0", words, "media_size_mismatch")])
            piece = bytes(pending[:size])
            end = confirmed + len(piece)
            headers = {
                **self.auth,
                "Content-Type": video.mime_type,
                "Content-Range": f"bytes {confirmed}-{end - 1}/{total}",
            }
            try:
                response: httpx.Response | None = await self.http.put(
                    self.session_url, content=piece, headers=headers, follow_redirects=False
                )
            except httpx.TransportError:
                response = None
            state: int | dict[str, Any]
            if response is not None and response.status_code < 500:
                state = await self._answer(response)
            else:
                resumes += 1
                if resumes > self.max_resumes:
                    raise (OutcomeUnknown if end == total else Transient)(
                        "The video upload kept failing; YouTube may be unavailable."
                    )
                await asyncio.sleep(self.backoff_seconds * 2 ** (resumes - 1))
                state = await self._status(total, final=end == total)
            if isinstance(state, dict):
                return state
            if state < confirmed:  # YouTube lost bytes we no longer hold: start over later
                raise Transient("YouTube lost part of the upload; it will be sent again.")
            del pending[: state - confirmed]
            confirmed = state

    async def _status(self, total: int, *, final: bool) -> int | dict[str, Any]:
        """Step 4.1: how many bytes YouTube kept (or the video, if it is complete)."""
        headers = {**self.auth, "Content-Range": f"bytes */{total}", "Content-Length": "0"}
        try:
            response = await self.http.put(
                self.session_url, headers=headers, follow_redirects=False
            )
        except httpx.TransportError as exc:
            words = "YouTube stopped answering during the upload"
            if final:
                raise OutcomeUnknown(f"{words}; the video may exist.") from exc
            raise Transient(f"{words}; try again.") from exc
        return await self._answer(response)

    async def _answer(self, response: httpx.Response) -> int | dict[str, Any]:
        """The video when complete, else how many bytes YouTube holds."""
        if response.status_code in (200, 201):
            body: dict[str, Any] = json_body(response)
            return body
        if response.status_code == 308:
            kept = re.fullmatch(r"bytes=0-(\d+)", response.headers.get("range", ""))
            return int(kept.group(1)) + 1 if kept else 0
        await response.aread()
        if response.status_code == 404:
            raise Transient("The upload session expired; the video will be sent again.")
        words, reason = google_error(response)
        raise refine(error_for(response, words or None), reason)
