"""The embedded default (``agency run``) publishing on a SQLite file.

Every other publishing test runs on PostgreSQL and Redis; here the parts ``agency run`` puts
in one process (tests/support/embedded.py) publish, cancel and edit through the API, and a
statement only PostgreSQL understands fails the job or the claimer that sends it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.embedded import Embedded
from tests.support.embedded import embedded as embedded
from tests.support.embedded import operated as operated
from tests.support.embedded import operator as operator
from tests.support.world import stubnet as stubnet

pytestmark = pytest.mark.slow  # a worker, a scheduler, a network and the CLI in processes


def published(p: dict[str, Any]) -> bool:
    return bool(p["status"] == "published")


async def test_a_scheduled_post_goes_out_once_with_its_first_comment(
    embedded: Embedded,
) -> None:
    brand, channel = await embedded.brand_and_channel("maison-publie")
    publication = await embedded.scheduled(
        brand, channel, "Nouvelle collection", 1, first_comment="Lien en bio"
    )
    assert publication["status"] == "scheduled"
    done = await embedded.until(
        publication["id"], lambda p: p["variants"][0]["first_comment_status"] is not None
    )
    assert done["status"] == "published", done
    variant = done["variants"][0]
    assert variant["status"] == "published" and variant["post_id"] is not None
    assert variant["first_comment_status"] == "posted"
    assert embedded.net.count("Nouvelle collection") == 1
    assert [(c["post_id"], c["text"]) for c in embedded.net.comments] == [
        (variant["post_id"], "Lien en bio")
    ]
    await asyncio.sleep(1)  # more of the scheduler's ticks: still one post
    assert embedded.net.count("Nouvelle collection") == 1
    embedded.assert_nothing_failed()


async def test_a_post_canceled_before_its_time_sends_nothing(embedded: Embedded) -> None:
    brand, channel = await embedded.brand_and_channel("maison-annule")
    publication = await embedded.scheduled(brand, channel, "Annulé", 3)
    canceled = await embedded.client.post(
        f"/publications/{publication['id']}/cancel", headers=embedded.headers
    )
    assert canceled.status_code == 200, canceled.text
    await asyncio.sleep(4.5)  # past its time and its lookahead, the scheduler running
    current = await embedded.get(publication["id"])
    assert current["status"] == "canceled"
    assert current["variants"][0]["status"] == "canceled"
    assert embedded.net.calls == 0
    embedded.assert_nothing_failed()


async def test_an_edited_post_goes_out_as_edited(embedded: Embedded) -> None:
    brand, channel = await embedded.brand_and_channel("maison-corrige")
    publication = await embedded.scheduled(brand, channel, "Première version", 3)
    edited = await embedded.client.patch(
        f"/publications/{publication['id']}",
        json={"variants": [{"channel_id": channel, "text": "Version corrigée"}]},
        headers={**embedded.headers, "If-Match": f'"{publication["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    done = await embedded.until(publication["id"], published)
    assert done["variants"][0]["text"] == "Version corrigée"
    assert [p["text"] for p in embedded.net.posts] == ["Version corrigée"]
    embedded.assert_nothing_failed()


async def attempts(embedded: Embedded, publication_id: str) -> list[tuple[str, str]]:
    response = await embedded.client.get(
        f"/publications/{publication_id}/attempts", headers=embedded.headers
    )
    assert response.status_code == 200, response.text
    return [(a["kind"], a["outcome"]) for a in response.json()["items"]]


@pytest.mark.parametrize(
    ("fault", "outcomes"),
    [
        # The network takes the post and its answer is lost: found, not sent twice.
        ("lose", [("publish", "unknown"), ("reconcile", "found")]),
        # It stored nothing: checked, then sent again.
        ("500", [("publish", "unknown"), ("reconcile", "not_found"), ("publish", "published")]),
        ("429:1", [("publish", "rate_limited"), ("publish", "published")]),
    ],
)
async def test_a_fault_is_reconciled_or_retried_once(
    embedded: Embedded, fault: str, outcomes: list[tuple[str, str]]
) -> None:
    embedded.net.plan.append(fault)
    brand, channel = await embedded.brand_and_channel("maison-panne")
    publication = await embedded.scheduled(brand, channel, "Malgré la panne", 1)
    await embedded.until(publication["id"], published)
    assert embedded.net.count("Malgré la panne") == 1
    assert await attempts(embedded, publication["id"]) == outcomes
    embedded.assert_nothing_failed()
