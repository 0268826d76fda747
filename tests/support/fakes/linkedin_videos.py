"""The Videos API half of the fake LinkedIn (``linkedin.FakeLinkedIn``).

Held to https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/videos-api:

- ``POST /rest/videos?action=initializeUpload`` with ``initializeUploadRequest`` (``owner``,
  ``fileSizeBytes``, ``uploadCaptions``, ``uploadThumbnail``): the owner must be the member or
  a page they administer (403 otherwise); the answer holds the video URN, an
  ``uploadToken`` and ``uploadInstructions``, one per part of 4 MB (4,194,304 bytes; the last
  one shorter) with its ``firstByte``, ``lastByte`` and ``uploadUrl``;
- each part is PUT to its URL and answered with an ``ETag``;
- ``POST /rest/videos?action=finalizeUpload`` with ``finalizeUploadRequest`` (``video``,
  ``uploadToken``, ``uploadedPartIds``: the ETags in the order of the parts);
- ``GET /rest/videos/{urn}``: ``status`` WAITING_UPLOAD, then PROCESSING after finalize, then
  AVAILABLE (or PROCESSING_FAILED).

The fake refuses a part of the wrong size, an unknown URL, a finalize before every part is in
or with ETags that are not the parts' in order. It also refuses a post of a video that is not
AVAILABLE yet: the page does not say what LinkedIn does then, and waiting is the safe reading.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from tests.support.fakes.asgi import Request, Response, json_response

PART_BYTES = 4 * 1024 * 1024
REQUEST_FIELDS = frozenset({"owner", "fileSizeBytes", "uploadCaptions", "uploadThumbnail"})


@dataclass
class Video:
    urn: str
    owner: str
    size: int
    token: str
    ranges: list[tuple[int, int]]
    parts: dict[int, bytes] = field(default_factory=dict)
    etags: dict[int, str] = field(default_factory=dict)
    status: str = "WAITING_UPLOAD"
    polls: int = 0

    def bytes(self) -> bytes:
        return b"".join(self.parts[i] for i in range(len(self.ranges)))


class VideosApi:
    """Video uploads; the fake that mixes it in says who may post and how to refuse."""

    def __init__(self) -> None:
        self.videos: dict[str, Video] = {}
        self.part_bytes = PART_BYTES
        self.processing_polls = 1  # PROCESSING answers before AVAILABLE
        self.processing_outcome = "AVAILABLE"  # or "PROCESSING_FAILED"
        self.part_failures: dict[int, int] = {}  # part index -> HTTP status, answered once
        self.send_etags = True

    def refuse(self, status: int, message: str, code: str = "ILLEGAL_ARGUMENT") -> NoReturn:
        raise NotImplementedError

    def _authors(self) -> set[str]:
        raise NotImplementedError

    def video_route(self, request: Request, parts: list[str]) -> Response | None:
        """The answer to a /rest/videos call, or None for another resource."""
        if parts[0] != "videos":
            return None
        action = request.param("action")
        if request.method == "POST" and len(parts) == 1 and action == "initializeUpload":
            return self._initialize(request)
        if request.method == "POST" and len(parts) == 1 and action == "finalizeUpload":
            return self._finalize(request)
        if request.method == "GET" and len(parts) == 2 and parts[1] in self.videos:
            return self._status(self.videos[parts[1]])
        self.refuse(404, f"No resource {request.method} {request.path}", "RESOURCE_NOT_FOUND")

    def _initialize(self, request: Request) -> Response:
        body = (request.json() or {}).get("initializeUploadRequest")
        if not isinstance(body, dict) or set(body) - REQUEST_FIELDS:
            self.refuse(422, "ERROR :: /initializeUploadRequest :: unrecognized field")
        size = body.get("fileSizeBytes")
        if not isinstance(size, int) or size <= 0:
            self.refuse(422, "ERROR :: /initializeUploadRequest/fileSizeBytes :: required")
        if body.get("owner") not in self._authors():
            message = "Accessing this video resource is forbidden. Please check your permissions"
            self.refuse(403, message, "ACCESS_DENIED")
        video_id = f"C5F{secrets.token_hex(6)}"
        starts = range(0, size, self.part_bytes)
        ranges = [(first, min(first + self.part_bytes, size) - 1) for first in starts]
        token = "" if len(ranges) == 1 else secrets.token_hex(8)
        video = Video(f"urn:li:video:{video_id}", body["owner"], size, token, ranges)
        self.videos[video.urn] = video
        instructions = [
            {
                "uploadUrl": f"{request.origin}/dms-uploads/video/{video_id}/part/{index}",
                "firstByte": first,
                "lastByte": last,
            }
            for index, (first, last) in enumerate(ranges)
        ]
        value = {
            "uploadUrlsExpireAt": int(time.time() * 1000) + 86_400_000,
            "video": video.urn,
            "uploadInstructions": instructions,
            "uploadToken": token,
        }
        return json_response(200, {"value": value})

    def receive_part(self, request: Request) -> Response:
        *_, video_id, _, index_text = request.path.split("/")
        video = self.videos.get(f"urn:li:video:{video_id}")
        index = int(index_text) if index_text.isdigit() else -1
        if request.method != "PUT" or video is None or not 0 <= index < len(video.ranges):
            self.refuse(404, "Unknown upload URL", "RESOURCE_NOT_FOUND")
        if index in self.part_failures:
            status = self.part_failures.pop(index)
            self.refuse(status, f"Injected HTTP {status} on part {index}", "INJECTED")
        first, last = video.ranges[index]
        if len(request.body) != last - first + 1:
            self.refuse(400, f"Part {index} must hold bytes {first} to {last}")
        video.parts[index] = request.body
        video.etags[index] = f"/ETag{secrets.token_hex(10)}"
        headers = {"etag": video.etags[index]} if self.send_etags else {}
        return Response(200, headers=headers)

    def _finalize(self, request: Request) -> Response:
        body = (request.json() or {}).get("finalizeUploadRequest") or {}
        video = self.videos.get(body.get("video", ""))
        if video is None:
            self.refuse(404, "Video not found", "NOT_FOUND")
        if video.status != "WAITING_UPLOAD" or len(video.parts) != len(video.ranges):
            self.refuse(400, "The upload is not complete: every part must be uploaded first")
        if body.get("uploadToken") != video.token:
            self.refuse(400, "uploadToken does not match the upload")
        expected = [video.etags[i] for i in range(len(video.ranges))]
        if body.get("uploadedPartIds") != expected:
            self.refuse(400, "uploadedPartIds must be the ETags of every part, in order")
        video.status = "PROCESSING"
        return Response(200)

    def _status(self, video: Video) -> Response:
        if video.status == "PROCESSING":
            video.polls += 1
            if video.polls > self.processing_polls:
                video.status = self.processing_outcome
        answer: dict[str, Any] = {"id": video.urn, "owner": video.owner, "status": video.status}
        if video.status == "PROCESSING_FAILED":
            answer["processingFailureReason"] = "Video format not supported"
        return json_response(200, answer)

    def check_video(self, media: dict[str, Any]) -> None:
        """A post's ``content.media`` naming a video: known, processed, documented fields."""
        video = self.videos.get(media.get("id", ""))
        if set(media) - {"id", "title"} or video is None or video.status != "AVAILABLE":
            self.refuse(422, f"ERROR :: /content/media :: video {media.get('id')} is not ready")
