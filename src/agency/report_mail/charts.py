"""The report's charts as PNG images, drawn with Pillow (already here for media checks).

Horizontal bar charts only: a figure per network (this period against the one before) and
the best posts by interactions. They read the same in an e-mail (inline images, since mail
programs show no scripts or SVG) and in the PDF (the same PNG bytes). Pillow draws one in
about a quarter of matplotlib's time and half its memory, and matplotlib would add about
110 MB of dependencies (numpy included) to every worker for two bar charts
(benchmarks/report_mail.py, docs/benchmarks.md).
The font is Bitstream Vera, shipped with reportlab, so the PDF and the charts match and
every accented letter of French is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import reportlab
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(reportlab.__file__).parent / "fonts"
WIDTH = 1200  # drawn at twice the size shown (600 px): sharp on high-density screens
BAR, GAP, LABEL_WIDTH, PAD = 26, 14, 330, 28
GREY, INK, MUTED = (190, 196, 204), (33, 37, 41), (108, 117, 125)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: not available (drawn as "n/a", no bar)
    shown: str  # the value as the reader reads it ("12 000", "n/a")
    previous: float | None = None


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / ("VeraBd.ttf" if bold else "Vera.ttf")), size)


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    color: str,
    legend: tuple[str, str] | None = None,
) -> bytes:
    """Horizontal bars, longest first as given; with ``legend`` (this period, the one
    before) each bar has a thin grey twin for the previous value."""
    rows = max(len(bars), 1)
    per_row = BAR * (2 if legend else 1) + GAP
    height = PAD * 2 + 56 + (40 if legend else 0) + rows * per_row
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    accent = _rgb(color)
    draw.text((PAD, PAD), title, font=_font(30, bold=True), fill=INK)
    top = PAD + 56
    if legend:
        x = PAD
        for name, fill in zip(legend, (accent, GREY), strict=True):
            draw.rectangle((x, top + 6, x + 22, top + 28), fill=fill)
            draw.text((x + 32, top + 4), name, font=_font(22), fill=MUTED)
            x += 32 + int(draw.textlength(name, font=_font(22))) + 40
        top += 40
    values = [v for b in bars for v in (b.value, b.previous) if v is not None and v > 0]
    scale = (WIDTH - LABEL_WIDTH - 2 * PAD - 170) / max(values) if values else 0
    label_font, value_font = _font(22), _font(22, bold=True)
    if not bars:
        draw.text((PAD, top), "—", font=label_font, fill=MUTED)
    for bar in bars:
        draw.text((PAD, top + 2), _fit(draw, bar.label, label_font), font=label_font, fill=INK)
        x0 = PAD + LABEL_WIDTH
        length = max(int((bar.value or 0) * scale), 2 if bar.value else 0)
        if length:
            draw.rectangle((x0, top, x0 + length, top + BAR - 2), fill=accent)
        draw.text((x0 + length + 10, top + 1), bar.shown, font=value_font, fill=INK)
        if legend:
            before = max(int((bar.previous or 0) * scale), 2 if bar.previous else 0)
            if before:
                draw.rectangle((x0, top + BAR, x0 + before, top + 2 * BAR - 8), fill=GREY)
        top += per_row
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont) -> str:
    """``text`` cut with an ellipsis to fit the label column."""
    limit = LABEL_WIDTH - 16
    if draw.textlength(text, font=font) <= limit:
        return text
    while text and draw.textlength(text + "…", font=font) > limit:
        text = text[:-1]
    return text + "…"
