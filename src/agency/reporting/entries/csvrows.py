"""A CSV file's rows read into the same bodies the JSON API takes, each row checked alone.

Spreadsheets in French locales write ``;`` between fields and ``,`` as the decimal mark:
the delimiter is read from the header line, and a decimal comma is read as a point in the
money columns. Row numbers are the spreadsheet's (the header is row 1).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from agency.kernel.errors import InvalidInput

T = TypeVar("T")
MAX_ROWS = 5000


@dataclass(frozen=True)
class Problem:
    row: int
    field: str
    message: str


def read_csv(
    text: str, columns: Sequence[str], required: Sequence[str]
) -> list[tuple[int, dict[str, str]]]:
    """``(row number, {column: cell})`` of the rows; a file unfit as a whole is a 422."""
    if "\x00" in text:
        raise InvalidInput(
            "The file holds NUL characters: it is not a CSV text file.",
            errors=[{"field": "csv", "message": "contains U+0000"}],
        )
    lines = text.lstrip("\ufeff").splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    try:
        records = [(n, r) for n, r in enumerate(reader, start=1) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise InvalidInput(
            f"The file is not valid CSV near line {reader.line_num}: {exc}.",
            errors=[{"field": f"csv line {reader.line_num}", "message": str(exc)}],
        ) from exc
    if not records:
        raise InvalidInput(
            "The file is empty: send a header row, then one row per entry.",
            errors=[{"field": "csv", "message": "no header row"}],
        )
    header = [cell.strip().lower() for cell in records[0][1]]
    problems = [
        {"field": f"csv header[{i}]", "message": f"unknown column {name!r}"}
        for i, name in enumerate(header)
        if name not in columns
    ] + [
        {"field": "csv header", "message": f"a {name} column is required"}
        for name in required
        if name not in header
    ]
    if problems:
        raise InvalidInput(
            f"The header row is not one this import reads ({', '.join(columns)}).",
            errors=problems,
        )
    if len(records) - 1 > MAX_ROWS:
        raise InvalidInput(
            f"A file holds at most {MAX_ROWS} rows; split it.",
            errors=[{"field": "csv", "message": f"{len(records) - 1} rows"}],
        )
    return [
        (number, {name: cells[i].strip() for i, name in enumerate(header) if i < len(cells)})
        for number, cells in records[1:]
    ]


def convert(
    number: int, cells: dict[str, str], body: type[T], decimals: Sequence[str] = ()
) -> T | Problem:
    """One CSV row as ``body`` (empty cells are absent), or the problem with it."""
    values: dict[str, Any] = {}
    for name, cell in cells.items():
        if not cell:
            continue
        if name in decimals and "," in cell and "." not in cell:
            cell = cell.replace(",", ".")
        values[name] = cell
    try:
        return msgspec.convert(values, body, strict=False)
    except msgspec.ValidationError as exc:
        return Problem(number, _field_of(str(exc)), str(exc))


def _field_of(message: str) -> str:
    """The field msgspec names in ``message`` (``... - at `$.day```), else the row."""
    if "`$." in message:
        return message.rsplit("`$.", 1)[1].rstrip("`")
    return "row"
