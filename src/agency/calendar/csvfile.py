"""Reading a CSV file of publications: encoding, delimiter, header, size.

Spreadsheets in French locales write ``;`` between fields (``,`` is the decimal mark), so
the delimiter is read from the header line. Row numbers are the spreadsheet's: the header
is row 1, the first publication row 2.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from agency.kernel.errors import InvalidInput

MAX_ROWS = 1000
MAX_FIELD_CHARS = 100_000

COLUMNS = {
    "title": "the publication's title (required)",
    "channel_id": "the channel's id; or network and account",
    "network": "the channel's network (x, mastodon, instagram...), with account",
    "account": "the channel's handle, account id or name, with network",
    "text": "the post's text",
    "link": "a link (https://...)",
    "local_time": "wall-clock time in the brand's zone, e.g. 2027-03-28 09:30",
    "at": "an instant with its offset (RFC 3339), instead of local_time",
    "campaign": "a campaign name",
    "tags": "tags, separated by , or ;",
    "first_comment": "a first comment, posted after the post",
    "post_title": "the post's own title (YouTube, Pinterest)",
    "reporting_line": "marketing, communication, press_relations or management",
    "media_ids": "ids of the brand's media, separated by spaces, , or ;",
}


@dataclass(frozen=True)
class Row:
    number: int
    values: dict[str, str]
    extra_cells: int = 0

    def get(self, column: str) -> str:
        return self.values.get(column, "").strip()


def read_rows(body: bytes) -> list[Row]:
    """The publication rows of ``body``; a file that cannot be read as a whole is a 422."""
    text = _decode(body)
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    if not header_line:
        raise InvalidInput(
            "The file is empty: send a header row, then one row per publication.",
            [{"field": "file", "message": "no header row"}],
        )
    delimiter = _delimiter(header_line)
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # Numbered as a spreadsheet numbers its rows: blank ones count, the header is 1.
        records = [(number, record) for number, record in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise InvalidInput(
            f"The file is not valid CSV near line {reader.line_num}: {exc}.",
            [{"field": f"line {reader.line_num}", "message": str(exc)}],
        ) from exc
    records = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    header = [cell.strip().lower() for cell in records[0][1]]
    _check_header(header)
    rows = [
        Row(
            number,
            {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)},
            max(0, len([c for c in cells[len(header) :] if c.strip()])),
        )
        for number, cells in records[1:]
    ]
    if not rows:
        raise InvalidInput(
            "The file has a header but no publication rows.",
            [{"field": "file", "message": "no rows after the header"}],
        )
    if len(rows) > MAX_ROWS:
        raise InvalidInput(
            f"A file holds at most {MAX_ROWS} publications; split it.",
            [{"field": "file", "message": f"{len(rows)} rows"}],
        )
    return rows


def _decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "The file is not UTF-8 text; export it as CSV UTF-8.",
            [{"field": "file", "message": f"invalid UTF-8 at byte {exc.start}"}],
        ) from exc
    if "\x00" in text:
        raise InvalidInput(
            "The file holds NUL characters: it is not a CSV text file.",
            [{"field": "file", "message": "contains U+0000"}],
        )
    return text


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_header(header: list[str]) -> None:
    errors = []
    for index, name in enumerate(header):
        if name not in COLUMNS:
            errors.append({"field": f"header[{index}]", "message": f"unknown column {name!r}"})
        elif header.index(name) != index:
            errors.append({"field": f"header[{index}]", "message": f"{name!r} appears twice"})
    if "title" not in header:
        errors.append({"field": "header", "message": "a title column is required"})
    if "channel_id" not in header and not {"network", "account"} <= set(header):
        errors.append({"field": "header", "message": "a channel_id column, or network and account"})
    if "local_time" not in header and "at" not in header:
        errors.append({"field": "header", "message": "a local_time or an at column"})
    if errors:
        known = ", ".join(COLUMNS)
        raise InvalidInput(f"The header row is not one this import reads ({known}).", errors)
