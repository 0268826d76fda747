"""The crisis timeline as CSV, for the post-mortem (a spreadsheet opens it as it is)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence

from agency.brand.models import Crisis, CrisisEvent

COLUMNS = (
    "at",
    "kind",
    "actor_kind",
    "actor_name",
    "actor_id",
    "publication_id",
    "publication_title",
    "variant_id",
    "network",
    "detail",
)
# A cell starting with one of these is a formula to a spreadsheet: written as text instead.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def timeline_csv(
    crisis: Crisis, events: Sequence[CrisisEvent], titles: dict[uuid.UUID, str]
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in events:
        detail = {k: v for k, v in e.detail.items() if k != "network"}
        writer.writerow(
            [
                _cell(value)
                for value in (
                    e.at.isoformat(),
                    e.kind,
                    e.actor_kind,
                    e.actor_name,
                    e.actor_id,
                    e.publication_id,
                    titles.get(e.publication_id) if e.publication_id else None,
                    e.variant_id,
                    e.detail.get("network"),
                    json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else "",
                )
            ]
        )
    return out.getvalue().encode()


def filename(crisis: Crisis) -> str:
    return f"crisis-{crisis.started_at.date().isoformat()}-{crisis.id}.csv"
