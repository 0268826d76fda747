"""The report as a PDF (reportlab): the figures of the reporting line, the charts, every
figure with its change, each network, the best posts and the days not measured.

reportlab is BSD-licensed, maintained since 2000, pure Python with an optional C
accelerator, and lays out tables and pages itself (platypus); most of a report's time is
spent embedding the two chart images (docs/benchmarks.md). Text uses Bitstream Vera
(shipped with it), embedded, so accents print the same on every reader.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from agency.report_mail.charts import FONT_DIR


@dataclass(frozen=True)
class Section:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str | None = None


@dataclass(frozen=True)
class PdfContent:
    title: str
    subtitle: str
    author: str
    accent: str
    headline: Sequence[tuple[str, str, str]]  # (figure, value, change)
    charts: Sequence[bytes]
    sections: Sequence[Section]
    footer: str
    logo_png: bytes | None = None


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    pdfmetrics.registerFont(TTFont("Vera", str(FONT_DIR / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("Vera-Bold", str(FONT_DIR / "VeraBd.ttf")))
    return "Vera", "Vera-Bold"


def render_pdf(content: PdfContent) -> bytes:
    regular, bold = _fonts()
    accent = colors.HexColor(content.accent)
    title = ParagraphStyle("title", fontName=bold, fontSize=18, leading=22, textColor=accent)
    h2 = ParagraphStyle("h2", fontName=bold, fontSize=12, leading=16, spaceBefore=10)
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle(
        "small", fontName=regular, fontSize=7.5, leading=10, textColor=colors.HexColor("#6C757D")
    )
    width = A4[0] - 36 * mm
    story: list[Flowable] = []
    if content.logo_png:
        w, h = ImageReader(io.BytesIO(content.logo_png)).getSize()
        tall = 12 * mm
        logo = Image(io.BytesIO(content.logo_png), width=tall * w / h, height=tall, hAlign="LEFT")
        story += [logo, Spacer(1, 3 * mm)]
    story += [
        Paragraph(escape(content.title), title),
        Paragraph(escape(content.subtitle), body),
        Spacer(1, 6 * mm),
    ]
    tiles = [
        [
            Paragraph(
                f"<b>{escape(v)}</b>",
                ParagraphStyle("v", parent=body, fontName=bold, fontSize=14, leading=18),
            )
            for _, v, _ in content.headline
        ],
        [Paragraph(escape(n), small) for n, _, _ in content.headline],
        [Paragraph(escape(c), small) for _, _, c in content.headline],
    ]
    if content.headline:
        story.append(
            Table(
                tiles,
                colWidths=[width / len(content.headline)] * len(content.headline),
                style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
            )
        )
    for png in content.charts:
        reader = ImageReader(io.BytesIO(png))
        w, h = reader.getSize()
        story += [Spacer(1, 4 * mm), Image(io.BytesIO(png), width=width, height=width * h / w)]
    for section in content.sections:
        rows = [[Paragraph(f"<b>{escape(c)}</b>", body) for c in section.header]]
        rows += [[Paragraph(escape(c), body) for c in row] for row in section.rows]
        table = Table(
            rows, repeatRows=1, hAlign="LEFT", colWidths=_widths(width, len(section.header))
        )
        table.setStyle(
            TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, accent),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#DEE2E6")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        block: list[Flowable] = [Paragraph(escape(section.title), h2), table]
        if section.note:
            block.append(Paragraph(escape(section.note), small))
        story.append(KeepTogether(block))
    story += [Spacer(1, 6 * mm), Paragraph(escape(content.footer), small)]
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=content.title,
        author=content.author,
        subject=content.subtitle,
        creator="agency",
    )
    document.build(story)
    return out.getvalue()


def _widths(total: float, columns: int) -> list[float]:
    """The first column (names) wider than the figures."""
    if columns == 1:
        return [total]
    first = total * 0.4
    return [first] + [(total - first) / (columns - 1)] * (columns - 1)
