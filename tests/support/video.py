"""Small, real video files written in pure Python: Motion-JPEG in an MP4 or QuickTime box tree.

Each frame is a JPEG drawn by Pillow; the container is the ISO base media file format
(ISO/IEC 14496-12) with the ``jpeg`` sample entry QuickTime defines for Photo-JPEG, which
players and ffmpeg decode. ``moov`` comes before ``mdat`` ("fast start"). Nothing is
downloaded and no encoder is needed, so CI builds the same bytes on any machine.

Run ``python -m tests.support.video out.mp4`` to write one and look at it in a player.
"""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

from PIL import Image, ImageDraw

# The identity transformation matrix of mvhd/tkhd (16.16 and 2.30 fixed point).
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def frames_as_jpeg(width: int, height: int, count: int) -> list[bytes]:
    """``count`` distinct frames: a bar that moves across a coloured background."""
    frames = []
    for index in range(count):
        image = Image.new("RGB", (width, height), (20 + 10 * index % 200, 90, 160))
        draw = ImageDraw.Draw(image)
        x = (index * width) // max(count, 1)
        draw.rectangle((x, 0, x + max(width // 8, 1), height), fill=(250, 220, 40))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=70)
        frames.append(buffer.getvalue())
    return frames


def mjpeg_movie(
    width: int = 64,
    height: int = 48,
    seconds: float = 1.0,
    fps: int = 10,
    quicktime: bool = False,
) -> bytes:
    """An MP4 (``isom``) or, with ``quicktime``, a MOV (``qt  ``) of ``seconds`` of video."""
    count = max(1, round(seconds * fps))
    samples = frames_as_jpeg(width, height, count)
    timescale = fps * 100
    delta = 100
    duration = count * delta
    if quicktime:
        ftyp = _box(b"ftyp", b"qt  ", struct.pack(">I", 0x200), b"qt  ")
    else:
        ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"mp41")

    def moov(chunk_offset: int) -> bytes:
        mvhd = _full_box(
            b"mvhd",
            0,
            0,
            struct.pack(">IIII", 0, 0, timescale, duration),
            struct.pack(">IH", 0x10000, 0x100),
            bytes(10),
            _MATRIX,
            bytes(24),
            struct.pack(">I", 2),
        )
        tkhd = _full_box(
            b"tkhd",
            0,
            3,  # enabled, in the movie
            struct.pack(">IIII", 0, 0, 1, 0),
            struct.pack(">I", duration),
            bytes(8),
            struct.pack(">hhhH", 0, 0, 0, 0),
            _MATRIX,
            struct.pack(">II", width << 16, height << 16),
        )
        mdhd = _full_box(
            b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0)
        )
        hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
        name = b"Photo - JPEG"
        sample_entry = _box(
            b"jpeg",
            bytes(6),
            struct.pack(">H", 1),  # data_reference_index
            bytes(16),
            struct.pack(">HH", width, height),
            struct.pack(">II", 0x480000, 0x480000),  # 72 dpi
            bytes(4),
            struct.pack(">H", 1),  # frame_count
            bytes([len(name)]) + name + bytes(31 - len(name)),
            struct.pack(">Hh", 24, -1),
        )
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, count, delta)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, count, 1)),
            _full_box(
                b"stsz",
                0,
                0,
                struct.pack(">II", 0, count),
                b"".join(struct.pack(">I", len(s)) for s in samples),
            ),
            _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )
        dinf = _box(
            b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))
        )
        minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
        trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
        return _box(b"moov", mvhd, trak)

    placeholder = moov(0)
    offset = len(ftyp) + len(placeholder) + 8  # the samples start after mdat's header
    mdat = _box(b"mdat", *samples)
    return ftyp + moov(offset) + mdat


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "movie.mp4")
    target.write_bytes(mjpeg_movie(320, 240, 3.0, quicktime=target.suffix == ".mov"))
    print(target)
