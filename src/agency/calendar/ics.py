"""A brand's publications as an iCalendar (RFC 5545) feed, built with ``icalendar``.

One VEVENT per variant on the calendar or published. Its UID is the variant's id, so a
calendar app updates an event in place when the post moves, and its SEQUENCE follows the
publication's version. Times are UTC; the brand's zone is named in X-WR-TIMEZONE so an app
shows them on the brand's clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from icalendar import Calendar, Event

# A post is an instant; a short block keeps it visible in calendar apps' week views.
EVENT_LENGTH = timedelta(minutes=15)
DESCRIPTION_CHARS = 500


def uid(variant_id: object) -> str:
    return f"variant-{variant_id}@agency"


def render(
    brand_name: str,
    timezone: str,
    rows: Sequence[Any],
    network_names: Mapping[str, str],
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//agency//publications calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{brand_name}: publications")
    calendar.add("x-wr-timezone", timezone)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for row in rows:
        calendar.add_component(_event(row, network_names))
    body: bytes = calendar.to_ical()
    return body


def _event(row: Any, network_names: Mapping[str, str]) -> Event:
    network = network_names.get(row.network, row.network)
    start = row.published_at if row.status == "published" and row.published_at else row.due_at
    event = Event()
    event.add("uid", uid(row.id))
    event.add("dtstamp", row.updated_at or row.created_at)
    event.add("last-modified", row.updated_at or row.created_at)
    event.add("sequence", row.version)
    event.add("dtstart", start)
    event.add("dtend", start + EVENT_LENGTH)
    event.add("summary", f"[{network}] {row.title}")
    text = row.text if len(row.text) <= DESCRIPTION_CHARS else row.text[:DESCRIPTION_CHARS] + "…"
    lines = [text, "", f"{network} ({row.channel_name}): {row.status}"]
    if row.campaign:
        lines.append(f"Campaign: {row.campaign}")
    if row.post_url:
        lines.append(row.post_url)
        event.add("url", row.post_url)
    event.add("description", "\n".join(lines).strip())
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add("categories", [network])
    return event
