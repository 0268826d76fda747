"""What a file really is, read from its bytes: type, dimensions, duration, frames.

The client's Content-Type and file name are never trusted: the type comes from the file's
signature (``filetype``), then the image is decoded with Pillow or the video's container is
parsed with hachoir. Anything that does not decode as the type its signature claims is
refused as corrupt.

What decoding may cost is bounded before it starts. The dimensions come from the header
(Pillow's ``open`` reads nothing else); an image of more than ``MAX_IMAGE_PIXELS`` is refused
there. A JPEG is decoded at an eighth of its size (libjpeg's DCT scaling reads every byte of
the entropy-coded data, so corruption is still found, in 1/64 of the memory); other formats
need the whole frame, so only one is decoded at a time per process: at most
``MAX_IMAGE_PIXELS`` x 4 bytes (138 MiB) of pixels. Pillow's own bomb check (89 megapixels,
about 341 MiB decoded as RGBA) let a 250 KB PNG declaring 9,400 x 9,400 pixels through.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import filetype
from PIL import Image

from agency.kernel.errors import AppError
from agency.kernel.i18n import N_

logger = logging.getLogger("agency.media")

MediaKind = Literal["image", "video", "gif"]

IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
ACCEPTED_TYPES = frozenset(IMAGE_FORMATS) | VIDEO_TYPES
# LinkedIn's limit, the largest of the networks we publish to (Mastodon 16.8 MP, X 4096 x 4096,
# Instagram and Threads 1440 wide): a larger image could go nowhere.
MAX_IMAGE_PIXELS = 36_152_320
JPEG_DRAFT_SCALE = 8
_FULL_FRAME_DECODE = threading.BoundedSemaphore(1)


class MediaTooLarge(AppError):
    status_code = 413
    type_slug = "media-too-large"
    title = N_("Media file too large")
    explanation = N_(
        "The file is larger than this server accepts (AGENCY_MEDIA__MAX_UPLOAD_BYTES), or "
        "larger than what the networks take for its kind. max_bytes says the limit."
    )


class UnsupportedMediaType(AppError):
    status_code = 415
    type_slug = "unsupported-media-type"
    title = N_("Unsupported media type")
    explanation = N_(
        "The file's content is not an image or video format this API accepts, whatever its "
        "name or declared type says."
    )


class InvalidMedia(AppError):
    status_code = 400
    type_slug = "invalid-media"
    title = N_("Invalid media file")
    explanation = N_(
        "The file claims a format it does not hold, is truncated, or its dimensions cannot be "
        "read. Export it again and upload the new file."
    )


@dataclass(frozen=True)
class Inspection:
    kind: MediaKind
    mime_type: str
    width: int
    height: int
    duration_seconds: float | None = None
    frames: int | None = None


def inspect_file(path: Path) -> Inspection:
    """Blocking (it decodes the file): run it in a worker thread."""
    if path.stat().st_size == 0:
        raise InvalidMedia("The file is empty.")
    guessed = filetype.guess(str(path))
    mime = guessed.mime if guessed is not None else None
    if mime not in ACCEPTED_TYPES:
        named = f"a {mime} file" if mime else "not a file type we recognise"
        raise UnsupportedMediaType(
            f"The file is {named}; accepted types are {', '.join(sorted(ACCEPTED_TYPES))}.",
            detected_type=mime,
            accepted_types=sorted(ACCEPTED_TYPES),
        )
    if mime in VIDEO_TYPES:
        return _inspect_video(path, mime)
    return _inspect_image(path, mime)


def _inspect_image(path: Path, mime: str) -> Inspection:
    fmt = IMAGE_FORMATS[mime]
    try:
        with Image.open(path, formats=[fmt]) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InvalidMedia(
                    f"The image is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS:,} pixels "
                    "are accepted (no network takes more).",
                    max_pixels=MAX_IMAGE_PIXELS,
                )
            frames = int(getattr(image, "n_frames", 1))
            _decode(image, fmt)
        # verify() checks what decoding the first frame skips (PNG chunk checksums...).
        with Image.open(path, formats=[fmt]) as image:
            image.verify()
    except Image.DecompressionBombError as exc:
        raise InvalidMedia(f"The image has too many pixels to decode safely ({exc}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        logger.info("refused a corrupt %s: %s", mime, exc)
        raise InvalidMedia(f"The file starts like {mime} but does not decode as one.") from exc
    if width < 1 or height < 1:
        raise InvalidMedia("The image has no pixels.")
    kind: MediaKind = "gif" if mime == "image/gif" and frames > 1 else "image"
    return Inspection(kind, mime, width, height, frames=frames)


def _decode(image: Image.Image, fmt: str) -> None:
    if fmt == "JPEG":
        width, height = image.size
        image.draft(image.mode, (width // JPEG_DRAFT_SCALE, height // JPEG_DRAFT_SCALE))
        image.load()
        return
    with _FULL_FRAME_DECODE:
        image.load()


def _inspect_video(path: Path, mime: str) -> Inspection:
    from hachoir.core import config as hachoir_config
    from hachoir.metadata import extractMetadata
    from hachoir.parser import createParser

    hachoir_config.quiet = True  # it prints its parsing warnings otherwise
    corrupt = InvalidMedia(f"The file starts like {mime} but its structure does not parse.")
    try:
        parser = createParser(str(path))
        if parser is None:
            raise corrupt
        with parser:
            metadata = extractMetadata(parser)
    except InvalidMedia:
        raise
    except Exception as exc:  # hachoir raises many kinds on a broken file
        logger.info("refused a corrupt %s: %s", mime, exc)
        raise corrupt from exc
    if metadata is None:
        raise corrupt
    # hachoir's get() raises for a missing value unless the default is not None.
    width, height, duration = (
        metadata.get(key) if metadata.has(key) else None for key in ("width", "height", "duration")
    )
    if not width or not height:
        raise InvalidMedia(f"The {mime} file holds no video track with a frame size.")
    if duration is None or duration.total_seconds() <= 0:
        raise InvalidMedia(f"The {mime} file has no duration.")
    return Inspection(
        "video", mime, int(width), int(height), duration_seconds=duration.total_seconds()
    )
