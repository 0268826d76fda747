"""Media through the API, on both storage backends: a local directory and an S3-compatible
server (moto's, on a loopback port). Real uploads of images drawn by Pillow and of small real
videos (tests/support/video.py); every refused upload leaves no row, no object, no spool file.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import shutil
import struct
import tempfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import dramatiq
import httpx
import pytest
from litestar import Litestar
from PIL import Image
from pydantic import SecretStr

from agency.app import create_app
from agency.config import MediaSettings, ServerSettings, Settings
from agency.connector.base import Post
from agency.connector.validation import common_problems
from agency.kernel.errors import NotFound
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.media import service as media_service
from agency.media.storage import MediaStorage, S3Storage, media_storage
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem, create_brand, insert_channel
from tests.support.images import picture
from tests.support.publishing import jobs_see
from tests.support.s3 import moto_s3, s3_client
from tests.support.video import mjpeg_movie

BASE_URL = "http://testserver"
MAX_UPLOAD = 2 * 1024 * 1024
MAX_BODY = 64 * 1024  # the app's limit for every other route, far below a media file
BUCKET = "agency-media-test"


# -- files ---------------------------------------------------------------------------------------


def animated_gif(frames: int = 3) -> bytes:
    images = [
        Image.new("RGB", (40, 30), (60 * index, 200 - 40 * index, 90)) for index in range(frames)
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header for a huge image, with almost no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + bytes(64)


# -- the S3-compatible server and the two backends ----------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint


@dataclass
class MediaEnv:
    backend: str
    client: httpx.AsyncClient
    runtime: Runtime
    root: Path
    endpoint: str | None

    @property
    def storage(self) -> MediaStorage:
        return media_storage(self.runtime)

    def stored_keys(self) -> list[str]:
        if self.backend == "local":
            return sorted(
                str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()
            )
        listed = s3_client(self.endpoint or "").list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listed.get("Contents", []))


def media_settings(base: Settings, backend: str, root: Path, endpoint: str | None) -> Settings:
    media = MediaSettings(
        storage=backend,
        local_path=str(root),
        s3_endpoint_url=endpoint,
        s3_bucket=BUCKET,
        s3_access_key_id="test-key",
        s3_secret_access_key=SecretStr("test-secret"),
        max_upload_bytes=MAX_UPLOAD,
        public_url_ttl_seconds=300,
    )
    return Settings(
        database=base.database,
        redis=base.redis,
        worker=base.worker,
        server=ServerSettings(public_url=BASE_URL, max_body_bytes=MAX_BODY),
        media=media,
    )


@asynccontextmanager
async def _media_env(
    backend: str, settings: Settings, runtime: Runtime, root: Path, endpoint: str | None
) -> AsyncIterator[MediaEnv]:
    configured = media_settings(settings, backend, root, endpoint)
    own = Runtime(configured, runtime.broker, runtime.connectors)
    app: Litestar = create_app(configured, own)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield MediaEnv(backend, client, own, root, endpoint)
    finally:
        await own.dispose_current_loop()


@pytest.fixture(scope="module")
async def media_envs(
    request: pytest.FixtureRequest,
    settings: Settings,
    runtime: Runtime,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, MediaEnv]]:
    """One app per backend for the module (building an app costs a third of a second)."""
    async with AsyncExitStack() as stack:
        envs = {}
        for backend in ("local", "s3"):
            endpoint = request.getfixturevalue("s3_endpoint") if backend == "s3" else None
            root = tmp_path_factory.mktemp(f"media-{backend}")
            envs[backend] = await stack.enter_async_context(
                _media_env(backend, settings, runtime, root, endpoint)
            )
        yield envs


def _wipe(env: MediaEnv) -> None:
    if env.backend == "local":
        for child in env.root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        for key in env.stored_keys():
            s3_client(env.endpoint or "").delete_object(Bucket=BUCKET, Key=key)


@pytest.fixture(params=["local", "s3"])
def env(request: pytest.FixtureRequest, media_envs: dict[str, MediaEnv]) -> Iterator[MediaEnv]:
    """The test runs once per storage backend; the storage is empty when it starts."""
    made = media_envs[request.param]
    _wipe(made)
    yield made
    _wipe(made)


@pytest.fixture
def local_env(media_envs: dict[str, MediaEnv]) -> Iterator[MediaEnv]:
    _wipe(media_envs["local"])
    yield media_envs["local"]
    _wipe(media_envs["local"])


@pytest.fixture
def s3_env(media_envs: dict[str, MediaEnv]) -> Iterator[MediaEnv]:
    _wipe(media_envs["s3"])
    yield media_envs["s3"]
    _wipe(media_envs["s3"])


# -- helpers ---------------------------------------------------------------------------------


async def upload(
    env: MediaEnv,
    tenant: Tenant,
    brand_id: str,
    content: bytes,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    alt_text: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    data = {"alt_text": alt_text} if alt_text is not None else None
    return await env.client.post(
        f"/brands/{brand_id}/media",
        files={"file": (filename, content, content_type)},
        data=data,
        headers={**tenant.headers, **(headers or {})},
    )


def spool_files() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("agency-upload-*")}


async def fetch(env: MediaEnv, url: str) -> httpx.Response:
    """What a network does with a media URL: a plain GET, no credentials."""
    if url.startswith(BASE_URL):
        return await env.client.get(url)
    async with httpx.AsyncClient(timeout=10) as outside:
        return await outside.get(url)


# -- uploads that are accepted -------------------------------------------------------------------


async def test_an_image_is_uploaded_described_listed_and_downloaded(
    env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(env.client, tenant_a, "acme")
    content = picture("PNG", (300, 200))
    response = await upload(
        env, tenant_a, brand_id, content, "shop front.png", "image/png", "A shop"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "image"
    assert body["mime_type"] == "image/png"
    assert (body["width"], body["height"], body["frames"]) == (300, 200, 1)
    assert body["size_bytes"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["filename"] == "shop front.png"
    assert body["alt_text"] == "A shop"
    assert body["duration_seconds"] is None
    assert response.headers["etag"] == '"1"'
    assert len(env.stored_keys()) == 1

    got = await env.client.get(f"/media/{body['id']}", headers=tenant_a.headers)
    assert got.status_code == 200
    assert got.json() == body
    listed = await env.client.get(f"/brands/{brand_id}/media", headers=tenant_a.headers)
    assert [m["id"] for m in listed.json()["items"]] == [body["id"]]

    download = await env.client.get(f"/media/{body['id']}/content", headers=tenant_a.headers)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-length"] == str(len(content))
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "shop%20front.png" in download.headers["content-disposition"]

    audit = await env.client.get(
        "/audit-events", params={"action": "media.uploaded"}, headers=tenant_a.headers
    )
    assert [e["object_id"] for e in audit.json()["items"]] == [body["id"]]


@pytest.mark.parametrize(
    ("quicktime", "mime"), [(False, "video/mp4"), (True, "video/quicktime")], ids=["mp4", "mov"]
)
async def test_a_video_is_measured_width_height_and_duration(
    env: MediaEnv, tenant_a: Tenant, quicktime: bool, mime: str
) -> None:
    brand_id = await create_brand(env.client, tenant_a, "acme")
    movie = mjpeg_movie(160, 96, seconds=2.5, fps=10, quicktime=quicktime)
    response = await upload(env, tenant_a, brand_id, movie, "clip.bin")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["mime_type"]) == ("video", mime)
    assert (body["width"], body["height"]) == (160, 96)
    assert body["duration_seconds"] == pytest.approx(2.5)
    assert body["frames"] is None


async def test_the_type_comes_from_the_bytes_not_the_name_or_the_header(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    response = await upload(
        local_env, tenant_a, brand_id, picture("WEBP"), "holiday.jpg", "image/jpeg"
    )
    assert response.status_code == 201, response.text
    assert response.json()["mime_type"] == "image/webp"


async def test_an_animated_gif_is_a_gif_and_a_still_one_an_image(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    animated = await upload(local_env, tenant_a, brand_id, animated_gif(4), "loop.gif")
    still = await upload(local_env, tenant_a, brand_id, picture("GIF"), "still.gif")
    assert (animated.json()["kind"], animated.json()["frames"]) == ("gif", 4)
    assert (still.json()["kind"], still.json()["mime_type"]) == ("image", "image/gif")
    gifs = await local_env.client.get(
        f"/brands/{brand_id}/media", params={"kind": "gif"}, headers=tenant_a.headers
    )
    assert [m["id"] for m in gifs.json()["items"]] == [animated.json()["id"]]


async def test_the_upload_route_alone_accepts_bodies_above_the_app_limit(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    large_png = picture("PNG", (400, 300), compress_level=0)
    assert MAX_BODY < len(large_png) < MAX_UPLOAD
    response = await upload(local_env, tenant_a, brand_id, large_png, "big.png")
    assert response.status_code == 201, response.text
    too_big_json = await local_env.client.post(
        "/brands",
        json={"name": "x" * MAX_BODY, "slug": "big", "timezone": "UTC"},
        headers=tenant_a.headers,
    )
    assert_problem(too_big_json, 413)


# -- uploads that are refused --------------------------------------------------------------------


REFUSED = [
    ("pdf-named-jpg", PDF, "cv.jpg", "image/jpeg", 415, ["application/pdf"]),
    ("html-named-png", b"<html><script>alert(1)</script></html>", "a.png", "image/png", 415,
     ["not a file type we recognise"]),
    ("webm", WEBM, "clip.webm", "video/webm", 415, ["video/webm"]),
    ("bmp", picture("BMP"), "a.bmp", "image/bmp", 415, ["image/bmp"]),
    ("empty", b"", "empty.png", "image/png", 400, ["empty"]),
    ("truncated-png", picture("PNG")[:300], "cut.png", "image/png", 400, ["image/png"]),
    ("truncated-jpeg", picture("JPEG")[:400], "cut.jpg", "image/jpeg", 400, ["image/jpeg"]),
    ("mp4-without-movie", mjpeg_movie()[:40] + bytes(200), "broken.mp4", "video/mp4", 400,
     ["video/mp4"]),
    ("decompression-bomb", png_claiming(20_000, 20_000), "bomb.png", "image/png", 400,
     ["pixels"]),
    ("oversized", b"\xff\xd8\xff\xe0" + bytes(MAX_UPLOAD), "huge.jpg", "image/jpeg", 413,
     ["file is larger than the 2 MiB"]),
    ("oversized-announced", bytes(MAX_UPLOAD + 100_000), "huge.jpg", "image/jpeg", 413,
     ["request is larger than the 2 MiB"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "filename", "declared", "status", "words"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
async def test_a_refused_upload_says_why_and_stores_nothing(
    env: MediaEnv,
    tenant_a: Tenant,
    content: bytes,
    filename: str,
    declared: str,
    status: int,
    words: list[str],
) -> None:
    brand_id = await create_brand(env.client, tenant_a, "acme")
    spooled_before = spool_files()
    response = await upload(env, tenant_a, brand_id, content, filename, declared, "alt")
    assert_problem(response, status, *words)
    assert await count_rows(env.runtime, "media") == 0
    assert env.stored_keys() == []
    assert spool_files() <= spooled_before


async def test_malformed_uploads_are_400_and_bad_fields_422_naming_them(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    url, headers = f"/brands/{brand_id}/media", tenant_a.headers
    as_json = await local_env.client.post(url, json={"file": "x"}, headers=headers)
    assert_problem(as_json, 400, "multipart/form-data")
    no_file = await local_env.client.post(url, data={"alt_text": "x"}, headers=headers, files={})
    assert_problem(no_file, 400, "multipart")
    only_alt = await local_env.client.post(
        url, files={"alt_text": (None, "just text")}, headers=headers
    )
    assert_problem(only_alt, 422, "file")
    png = picture()
    two = await local_env.client.post(
        url, files=[("file", ("a.png", png)), ("file", ("b.png", png))], headers=headers
    )
    assert_problem(two, 422, "exactly one file")
    extra = await local_env.client.post(
        url, files={"file": ("a.png", png), "caption": (None, "hi")}, headers=headers
    )
    body = assert_problem(extra, 422, "caption")
    assert body["errors"][0]["code"] == "unknown_field"
    long_alt = await upload(local_env, tenant_a, brand_id, png, alt_text="x" * 1501)
    assert_problem(long_alt, 422, "alt_text")
    nul_alt = await upload(local_env, tenant_a, brand_id, png, alt_text="a\x00b")
    assert_problem(nul_alt, 422, "alt_text")
    assert await count_rows(local_env.runtime, "media") == 0
    assert local_env.stored_keys() == []


async def test_an_upload_to_a_missing_brand_is_404_before_the_body_is_read(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    response = await upload(local_env, tenant_a, str(uuid.uuid4()), picture())
    assert_problem(response, 404, "brand")


# -- idempotency, edits, deletion ------------------------------------------------------------


async def test_an_upload_retried_with_its_idempotency_key_is_stored_once(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    key = {"Idempotency-Key": "upload-1"}
    first = await upload(local_env, tenant_a, brand_id, picture(), "a.png", headers=key)
    again = await upload(local_env, tenant_a, brand_id, picture(), "a.png", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await upload(local_env, tenant_a, brand_id, picture("JPEG"), "a.png", headers=key)
    assert_problem(other, 422, "idempotency")
    assert await count_rows(local_env.runtime, "media") == 1
    assert len(local_env.stored_keys()) == 1


async def test_alt_text_changes_against_the_etag(local_env: MediaEnv, tenant_a: Tenant) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    media = (await upload(local_env, tenant_a, brand_id, picture())).json()
    url = f"/media/{media['id']}"
    blind = await local_env.client.patch(url, json={"alt_text": "x"}, headers=tenant_a.headers)
    assert_problem(blind, 428)
    changed = await local_env.client.patch(
        url, json={"alt_text": "A red square"}, headers={**tenant_a.headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["alt_text"] == "A red square"
    assert changed.headers["etag"] == '"2"'
    stale = await local_env.client.patch(
        url, json={"alt_text": "Late"}, headers={**tenant_a.headers, "If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    cleared = await local_env.client.patch(
        url, json={"alt_text": None}, headers={**tenant_a.headers, "If-Match": '"2"'}
    )
    assert cleared.json()["alt_text"] is None
    too_long = await local_env.client.patch(
        url, json={"alt_text": "x" * 1501}, headers={**tenant_a.headers, "If-Match": "*"}
    )
    assert_problem(too_long, 422)


@pytest.fixture
def media_worker(local_env: MediaEnv) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker whose jobs run with the media runtime (its storage)."""
    worker = dramatiq.Worker(local_env.runtime.broker, worker_threads=1, queues={"default"})
    with jobs_see(local_env.runtime):
        worker.start()
        try:
            yield worker
        finally:
            worker.stop()


async def test_deleting_removes_the_row_then_the_file_once_committed(
    local_env: MediaEnv, tenant_a: Tenant, media_worker: dramatiq.Worker
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    media = (await upload(local_env, tenant_a, brand_id, picture())).json()
    assert len(local_env.stored_keys()) == 1
    deleted = await local_env.client.delete(f"/media/{media['id']}", headers=tenant_a.headers)
    assert deleted.status_code == 204, deleted.text
    gone = await local_env.client.get(f"/media/{media['id']}", headers=tenant_a.headers)
    assert_problem(gone, 404)
    deadline = time.monotonic() + 10
    while local_env.stored_keys() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # the worker runs in its own thread: poll its effect
    assert local_env.stored_keys() == []
    audit = await local_env.client.get(
        "/audit-events", params={"action": "media.deleted"}, headers=tenant_a.headers
    )
    assert [e["object_id"] for e in audit.json()["items"]] == [media["id"]]


async def test_a_media_in_use_is_not_deleted(
    local_env: MediaEnv, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    used = (await upload(local_env, tenant_a, brand_id, picture())).json()
    free = (await upload(local_env, tenant_a, brand_id, picture("JPEG"))).json()
    asked: list[uuid.UUID] = []

    async def in_a_variant(session: Any, subject: Subject, media_id: uuid.UUID) -> str | None:
        asked.append(media_id)
        return "variant 7 of publication 'Launch' uses it" if str(media_id) == used["id"] else None

    monkeypatch.setattr(media_service, "_usage_checks", [])
    assert media_service.register_usage_check(in_a_variant) is in_a_variant
    media_service.register_usage_check(in_a_variant)  # a second import changes nothing

    refused = await local_env.client.delete(f"/media/{used['id']}", headers=tenant_a.headers)
    assert_problem(refused, 409, "variant 7 of publication 'Launch' uses it")
    assert await count_rows(local_env.runtime, "media") == 2
    allowed = await local_env.client.delete(f"/media/{free['id']}", headers=tenant_a.headers)
    assert allowed.status_code == 204
    assert [str(m) for m in asked] == [used["id"], free["id"]]


# -- tenancy -----------------------------------------------------------------------------------


async def test_another_agency_sees_nothing_of_a_media(
    env: MediaEnv, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    brand_id = await create_brand(env.client, tenant_a, "acme")
    media = (await upload(env, tenant_a, brand_id, picture())).json()
    b = tenant_b.headers
    for response in [
        await env.client.get(f"/media/{media['id']}", headers=b),
        await env.client.get(f"/media/{media['id']}/content", headers=b),
        await env.client.patch(
            f"/media/{media['id']}", json={"alt_text": "x"}, headers={**b, "If-Match": "*"}
        ),
        await env.client.delete(f"/media/{media['id']}", headers=b),
        await env.client.get(f"/brands/{brand_id}/media", headers=b),
        await upload(env, tenant_b, brand_id, picture("JPEG")),
    ]:
        assert_problem(response, 404)
    assert await count_rows(env.runtime, "media") == 1
    assert len(env.stored_keys()) == 1
    async with env.runtime.session() as session:
        await bind_tenant(session, tenant_b.agency_id)
        subject = Subject(agency_id=tenant_b.agency_id, kind="system")
        with pytest.raises(NotFound, match=media["id"]):
            await media_service.describe_for_validation(session, subject, [uuid.UUID(media["id"])])


# -- what the publishing pipeline gets ------------------------------------------------------------


async def test_load_for_publish_streams_the_files_in_the_order_asked(
    env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(env.client, tenant_a, "acme")
    image = picture("JPEG", (640, 480), quality=95)
    movie = mjpeg_movie(96, 64, seconds=1.2)
    first = (await upload(env, tenant_a, brand_id, image, alt_text="A poster")).json()
    second = (await upload(env, tenant_a, brand_id, movie)).json()
    ids = [uuid.UUID(second["id"]), uuid.UUID(first["id"])]
    async with env.runtime.session() as session:
        await bind_tenant(session, tenant_a.agency_id)
        subject = Subject(agency_id=tenant_a.agency_id, kind="system")
        loaded = await media_service.load_for_publish(session, subject, env.runtime, ids)
        missing = uuid.uuid4()
        with pytest.raises(NotFound, match=str(missing)):
            await media_service.load_for_publish(session, subject, env.runtime, [missing, ids[0]])
    video, photo = loaded
    assert (video.kind, video.mime_type, video.width, video.height) == (
        "video",
        "video/mp4",
        96,
        64,
    )
    assert video.duration_seconds == pytest.approx(1.2)
    assert (photo.kind, photo.size, photo.alt_text) == ("image", len(image), "A poster")
    assert video.source is not None and photo.source is not None
    assert await video.source.read() == movie
    pieces = [chunk async for chunk in photo.source.chunks(4096)]
    assert len(pieces) > 1 and max(len(p) for p in pieces) <= 4096
    assert b"".join(pieces) == image
    assert await photo.source.read() == image  # a source can be read again (a retry)
    assert photo.public_url and video.public_url
    fetched = await fetch(env, photo.public_url)
    assert fetched.status_code == 200
    assert fetched.content == image
    assert fetched.headers["content-type"] == "image/jpeg"


async def test_describe_for_validation_feeds_the_networks_media_rules(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    x = local_env.runtime.connectors["x"]
    rule = x.limits.media["video"]
    assert rule.max_width is not None
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    wide = mjpeg_movie(rule.max_width + 80, 32, seconds=1.0)
    media = (await upload(local_env, tenant_a, brand_id, wide)).json()
    async with local_env.runtime.session() as session:
        await bind_tenant(session, tenant_a.agency_id)
        subject = Subject(agency_id=tenant_a.agency_id, kind="system")
        described = await media_service.describe_for_validation(
            session, subject, [uuid.UUID(media["id"])]
        )
    assert described[0].source is None
    problems = common_problems(x, Post(text="New clip", media=tuple(described)))
    assert [p.code for p in problems] == ["media_too_wide"]


# -- signed links (local storage) and presigned URLs (S3) -----------------------------------------


async def test_a_signed_link_serves_the_file_until_it_expires_and_only_as_signed(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    content = picture("PNG")
    media = (await upload(local_env, tenant_a, brand_id, content)).json()
    other = (await upload(local_env, tenant_a, brand_id, picture("JPEG"))).json()
    links = local_env.storage.links
    agency, media_id = tenant_a.agency_id, uuid.UUID(media["id"])
    url = links.url(agency, media_id, 60)
    ok = await local_env.client.get(url)
    assert ok.status_code == 200
    assert ok.content == content

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}

    def variant(path: str = parts.path, **changes: str) -> str:
        return f"{path}?{urlencode({**query, **changes})}"

    sig = query["signature"]
    tampered = [
        variant(signature=("A" if sig[0] != "A" else "B") + sig[1:]),
        variant(signature=sig[:-1]),
        variant(expires=str(int(query["expires"]) + 3600)),
        variant(agency=str(uuid.uuid4())),
        variant(agency=query["agency"].upper()),
        variant(path=f"/media/{other['id']}/signed"),
        parts.path,
    ]
    for wrong in tampered:
        assert_problem(await local_env.client.get(wrong), 404, "invalid or has expired")
    expired = links.url(agency, media_id, -1)
    assert_problem(await local_env.client.get(expired), 404, "invalid or has expired")
    assert links.verify(query["agency"], media_id, query["expires"], sig) == agency
    later = int(query["expires"]) + 1
    assert links.verify(query["agency"], media_id, query["expires"], sig, now=later) is None


async def test_an_s3_presigned_url_serves_the_file_for_the_configured_time(
    s3_env: MediaEnv, tenant_a: Tenant
) -> None:
    env, s3_endpoint = s3_env, s3_env.endpoint or ""
    brand_id = await create_brand(env.client, tenant_a, "acme")
    content = picture("PNG")
    media = (await upload(env, tenant_a, brand_id, content)).json()
    (key,) = env.stored_keys()
    assert key == f"{tenant_a.agency_id}/{brand_id}/{media['id']}"
    ids = {"agency_id": tenant_a.agency_id, "media_id": uuid.UUID(media["id"])}
    url = await env.storage.fetch_url(key, ttl_seconds=60, **ids)
    assert url.startswith(s3_endpoint) and "X-Amz-Signature" in url
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    fetched = await fetch(env, url)
    assert fetched.status_code == 200 and fetched.content == content
    # moto does not check a presigned URL's expiry (S3 does), so that is not tested here.


async def test_s3_stores_a_large_file_in_parts(
    s3_endpoint: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agency.media import storage as storage_module
    from agency.media.links import MediaLinks

    monkeypatch.setattr(storage_module, "PART_SIZE", 5 * 1024 * 1024)
    configured = media_settings(settings, "s3", tmp_path, s3_endpoint)
    storage = S3Storage(configured, MediaLinks.from_settings(configured))
    key = f"{uuid.uuid4()}/{uuid.uuid4()}/{uuid.uuid4()}"
    big = tmp_path / "big.bin"
    content = hashlib.sha256(b"seed").digest() * (11 * 1024 * 1024 // 32 + 7)
    big.write_bytes(content)
    try:
        await storage.put(key, big, content_type="video/mp4")
        assert await storage.exists(key)
        digest = hashlib.sha256()
        async for chunk in await storage.open(key, chunk_size=1 << 20):
            digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(content).hexdigest()
        head = s3_client(s3_endpoint).head_object(Bucket=BUCKET, Key=key)
        assert head["ContentType"] == "video/mp4"
        assert "-3" in head["ETag"]  # a multipart upload of three parts
        await storage.delete(key)
        await storage.delete(key)  # already gone: still fine
        assert not await storage.exists(key)
    finally:
        await storage.aclose()


async def test_an_uploaded_photo_is_publishable_on_every_network_that_takes_it(
    local_env: MediaEnv, tenant_a: Tenant
) -> None:
    """Variants are checked from the media's description; the bytes and the public URL the
    networks need come only when publishing, so their absence is no problem when composing."""
    brand_id = await create_brand(local_env.client, tenant_a, "acme")
    uploaded = await upload(
        local_env, tenant_a, brand_id, picture("JPEG", (1080, 1080)), "square.jpg", "image/jpeg"
    )
    assert uploaded.status_code == 201, uploaded.text
    networks = sorted(
        name
        for name, cls in local_env.runtime.connectors.items()
        if "image/jpeg" in getattr(cls.limits.media.get("image"), "mime_types", ())
    )
    assert {"x", "mastodon", "bluesky", "instagram", "threads"} <= set(networks)
    variants = [
        {
            "channel_id": await insert_channel(
                local_env.runtime, tenant_a.agency_id, brand_id, network
            ),
            "text": "Nouvelle collection",
            "media_ids": [uploaded.json()["id"]],
        }
        for network in networks
    ]
    created = await local_env.client.post(
        f"/brands/{brand_id}/publications",
        json={"title": "Launch", "variants": variants},
        headers=tenant_a.headers,
    )
    assert created.status_code == 201, created.text
    media_problems = {
        variant["network"]: variant["problems"]
        for variant in created.json()["variants"]
        if any(p["field"].startswith("media") for p in variant["problems"])
    }
    assert media_problems == {}
