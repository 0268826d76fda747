"""Sending a video to TikTok's upload URL in chunks, by the Media Transfer Guide's rules.

https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide: chunks of 5 to
64 MB sent in order; ``total_chunk_count`` is the size divided by ``chunk_size`` rounded down,
the last chunk taking the trailing bytes (up to 128 MB); a file under 5 MB goes whole; at
most 1000 chunks. Each PUT says its ``Content-Range``; TikTok answers 206 until the last
chunk, then 201.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from agency.connector import InvalidContent, Media, Problem, Transient
from agency.connector.http import call

MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_CHUNKS = 5 * MB, 64 * MB, 1000


@dataclass(frozen=True)
class ChunkPlan:
    video_size: int
    chunk_size: int
    total_chunk_count: int

    @classmethod
    def for_size(cls, size: int, preferred: int) -> ChunkPlan:
        if size < MIN_CHUNK:
            return cls(size, size, 1)
        chunk = max(MIN_CHUNK, min(preferred, MAX_CHUNK))
        if size <= chunk:
            return cls(size, size, 1)
        count = size // chunk
        if count > MAX_CHUNKS:
            problem = Problem("media.0", "The video is too large for TikTok.", "media_too_large")
            raise InvalidContent([problem])
        return cls(size, chunk, count)

    def spans(self) -> list[tuple[int, int]]:
        """(first byte, last byte) of every chunk; the last takes the trailing bytes."""
        size, chunk, count = self.video_size, self.chunk_size, self.total_chunk_count
        return [
            (i * chunk, (i + 1) * chunk - 1 if i < count - 1 else size - 1) for i in range(count)
        ]


def put(
    http: httpx.AsyncClient, url: str, piece: bytes, headers: dict[str, str]
) -> Callable[[], Awaitable[httpx.Response]]:
    return lambda: http.put(url, content=piece, headers=headers)


async def send_chunks(
    http: httpx.AsyncClient, upload_url: str, video: Media, plan: ChunkPlan
) -> None:
    if video.source is None:
        raise InvalidContent(
            [Problem("media.0", "The video file is not available.", "media_missing")]
        )
    chunks = video.source.chunks(plan.chunk_size).__aiter__()
    buffer = bytearray()
    spans = plan.spans()
    for index, (first, last) in enumerate(spans):
        while len(buffer) < last - first + 1:
            try:
                buffer += await anext(chunks)
            except StopAsyncIteration:
                words = f"The video file is shorter than the {plan.video_size} bytes announced."
                raise InvalidContent([Problem("media.0", words, "media_size_mismatch")]) from None
        piece, buffer = bytes(buffer[: last - first + 1]), buffer[last - first + 1 :]
        headers = {
            "Content-Type": video.mime_type,
            "Content-Range": f"bytes {first}-{last}/{plan.video_size}",
        }
        final = index == len(spans) - 1
        # The post exists only once the last chunk is in: only then is a lost answer unknown.
        response = await call(put(http, upload_url, piece, headers), publishing=final)
        if response.status_code != (201 if final else 206):
            raise Transient(f"TikTok answered {response.status_code} to a video chunk; try again.")
