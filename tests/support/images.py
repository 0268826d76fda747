"""Small real image files for upload and publishing tests."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image


def picture(fmt: str = "PNG", size: tuple[int, int] = (300, 200), **save: Any) -> bytes:
    """An image of ``size`` in ``fmt`` (two colours, so that encoders have something to do)."""
    image = Image.new("RGB", size, (200, 30, 90))
    image.paste((20, 160, 220), (0, 0, size[0] // 2, size[1] // 2))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()
