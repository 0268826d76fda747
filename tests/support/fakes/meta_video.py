"""Facebook Page videos for the fake Graph API (``meta.GraphFake``).

Held to these reference pages:

- publishing a Page video: ``POST /{page-id}/videos`` with the Page's token, an optional
  ``title`` and ``description`` and the uploaded file's handle in
  ``fbuploader_video_file_chunk``; the answer is the video's ``id``:
  https://developers.facebook.com/docs/video-api/guides/publishing,
  https://developers.facebook.com/docs/graph-api/reference/page/videos
- the Resumable Upload API the guide sends the file through, with a user token: a session
  from ``POST /{app-id}/uploads`` (``file_name``, ``file_length`` and ``file_type``, one of
  application/pdf, image/jpeg, image/jpg, image/png, video/mp4), answered
  ``{"id": "upload:<session>"}``; the bytes to ``POST /upload:<session>`` with
  ``Authorization: OAuth <token>`` and a ``file_offset`` header, answered ``{"h": <handle>}``;
  after an interruption ``GET /upload:<session>`` answers the ``file_offset`` to go on from:
  https://developers.facebook.com/docs/graph-api/guides/upload
- the video error codes (1363023: larger than 2 GB; 1363019: the upload failed, retry):
  https://developers.facebook.com/documentation/video-api/reference/error-codes

The guide does not say how Graph answers bytes that stop short of the file's end; the fake
keeps them and answers 1363019, so that the offset then reports what it holds.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.fakes.asgi import Request, Response, json_response
from tests.support.fakes.meta_base import (
    Call,
    GraphError,
    Token,
    invalid_param,
    no_such_object,
)
from tests.support.fakes.meta_instagram import InstagramPublishing

UPLOAD_TYPES = frozenset({"application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4"})
VIDEO_MAX_BYTES = 2 * 1024**3
UPLOAD_FAILED = 1363019


@dataclass
class Interruption:
    """The next ``times`` byte uploads keep ``after_bytes`` bytes, then fail with ``code``."""

    after_bytes: int
    times: int
    code: int


@dataclass
class UploadSession:
    session: str
    owner: str  # the user who opened it
    name: str
    length: int
    mime_type: str
    data: bytearray
    handle: str | None = None
    used: bool = False


class PageVideos(InstagramPublishing):
    """Upload sessions of the app, and the videos edge of a Page."""

    def __init__(self, version: str, client_id: str, client_secret: str) -> None:
        super().__init__(version, client_id, client_secret)
        app = {"_node": "application", "id": client_id, "_at": datetime.now(UTC)}
        self.objects[client_id] = app
        self.uploads: dict[str, UploadSession] = {}
        self.interruption: Interruption | None = None
        self.routes.update(
            {
                ("application", "POST", "uploads"): self.start_upload,
                ("page", "POST", "videos"): self.create_video,
            }
        )

    def interrupt_uploads(self, after_bytes: int, *, times: int = 1, code: int = 2) -> None:
        self.interruption = Interruption(after_bytes, times, code)

    def new_post(self, page: dict[str, Any], message: str | None, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError  # the Page feed's; GraphFake has it

    def handle(self, request: Request) -> Response:
        return self.upload_answer(request) or super().handle(request)

    # -- the Resumable Upload API ---------------------------------------------------------------

    def start_upload(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("file_name", "file_length", "file_type"))
        if call.token.kind != "user":
            raise GraphError(400, 100, "(#100) Uploads need a user access token")
        if call.params["file_type"] not in UPLOAD_TYPES:
            raise invalid_param("file_type must be one of " + ", ".join(sorted(UPLOAD_TYPES)))
        length = call.params["file_length"]
        if not length.isdigit() or int(length) == 0:
            raise invalid_param("file_length must be a positive integer")
        if int(length) > VIDEO_MAX_BYTES:
            raise GraphError(
                400,
                100,
                "The video you tried to upload is too large. The maximum size is 2 GB.",
                subcode=1363023,
                kind="CodedException",
            )
        session = f"upload:{self.new_id()}"
        p = call.params
        self.uploads[session] = UploadSession(
            session, call.token.subject, p["file_name"], int(length), p["file_type"], bytearray()
        )
        return {"id": session}

    def upload_answer(self, request: Request) -> Response | None:
        """The answer to a request for an upload session, or None for any other path."""
        segments = [s for s in request.path.split("/") if s]
        if len(segments) != 2 or not segments[1].startswith("upload:"):
            return None
        try:
            if segments[0] != self.version:
                raise no_such_object(request.method, segments[1])
            body = self.upload_call(request, segments[1])
        except GraphError as error:
            return json_response(error.status, error.body())
        return json_response(200, body)

    def upload_call(self, request: Request, name: str) -> dict[str, Any]:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("OAuth "):
            raise GraphError(400, 190, "Invalid OAuth access token - Cannot parse access token")
        token: Token = self.authenticate(auth.removeprefix("OAuth "))
        session = self.uploads.get(name)
        if session is None or token.kind != "user" or token.subject != session.owner:
            raise no_such_object(request.method, name)
        if request.method == "GET":
            if request.query:
                raise invalid_param("An upload session takes no parameters")
            return {"id": name, "file_offset": len(session.data)}
        if request.method != "POST":
            raise no_such_object(request.method, name)
        return self.receive(session, request)

    def receive(self, session: UploadSession, request: Request) -> dict[str, Any]:
        offset = request.headers.get("file_offset")
        if offset is None or not offset.isdigit():
            raise invalid_param("The file_offset header is required")
        if int(offset) != len(session.data):
            raise invalid_param(f"file_offset must be {len(session.data)}, the bytes received")
        if session.handle is not None:
            raise invalid_param("This upload session is complete")
        if not request.body or int(offset) + len(request.body) > session.length:
            raise invalid_param("The bytes do not fit the file_length of the session")
        cut = self.interruption
        if cut is not None and cut.times > 0:
            cut.times -= 1
            session.data += request.body[: cut.after_bytes]
            status = 503 if cut.code in (1, 2) else 400
            raise GraphError(status, cut.code, "There was a problem uploading your video.")
        session.data += request.body
        if len(session.data) < session.length:
            raise GraphError(
                400,
                100,
                "There was a problem uploading your video. Please try uploading it again.",
                subcode=UPLOAD_FAILED,
            )
        name = base64.b64encode(session.name.encode()).decode()
        session.handle = f"4:{name}:{session.mime_type}:{session.session.removeprefix('upload:')}"
        return {"h": session.handle}

    # -- the videos edge ------------------------------------------------------------------------

    def create_video(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("fbuploader_video_file_chunk",), ("title", "description"))
        self.allow(call, page_token=True)
        handle = call.params["fbuploader_video_file_chunk"]
        found = [s for s in self.uploads.values() if s.handle == handle]
        if not found or found[0].used or not found[0].mime_type.startswith("video/"):
            raise invalid_param("fbuploader_video_file_chunk is not the handle of a video upload")
        session = found[0]
        session.used = True
        page, description = call.node, call.params.get("description")
        video = self.add("video", _page=page["id"], _bytes=bytes(session.data))
        video |= {"title": call.params.get("title"), "description": description}
        video["permalink_url"] = f"/{page['username']}/videos/{video['id']}/"
        # A published video is a story on the Page, listed with its posts.
        video["_post"] = self.new_post(page, description, _video=video["id"])["id"]
        return {"id": video["id"]}
