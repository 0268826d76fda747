"""The calendar's answers kept in the process (``agency.calendar.cache``): every write that
changes what the calendar shows is seen at the next read, whoever made it (this app, another
replica, a worker writing straight to the database); the checks of who may read run as before;
a kept answer never reaches another agency or a client member's brand wall; ``If-None-Match``
with the kept answer's ETag gets a 304."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from agency.calendar.cache import calendar_cache
from agency.channel.models import Channel
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.publication.models import Publication, Variant
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, bearer, client_session
from tests.support.desk import Desk
from tests.support.replica import Replica
from tests.support.replica import replica as replica

__all__ = ["replica"]

FEBRUARY = {"from": "2027-02-01T00:00:00+01:00", "to": "2027-03-01T00:00:00+01:00"}


@pytest.fixture
def desk(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Desk:
    return Desk(client, runtime, tenant_a)


async def calendar(desk: Desk, **params: Any) -> httpx.Response:
    answer = await desk.get("/calendar", **FEBRUARY, **params)
    assert answer.status_code == 200, answer.text
    return answer


async def shown(desk: Desk, **params: Any) -> list[tuple[str, str, str, str]]:
    """(title, channel name, status, local time) of each entry, by due time."""
    items = (await calendar(desk, **params)).json()["items"]
    return [(i["title"], i["channel_name"], i["status"], i["local_time"]) for i in items]


def kept(runtime: Runtime) -> int:
    cache = calendar_cache(runtime.settings.publishing.calendar_cache_size)
    assert cache is not None, "the cache is on by default"
    return len(cache)


async def _edit(desk: Desk, publication_id: str, **fields: Any) -> None:
    current = (await desk.get(f"/publications/{publication_id}")).json()
    response = await desk.client.patch(
        f"/publications/{publication_id}",
        json=fields,
        headers={**desk.headers, "If-Match": f'"{current["version"]}"'},
    )
    assert response.status_code == 200, response.text


async def _as_worker(runtime: Runtime, statement: Any) -> None:
    """A write straight to the database, as the publishing worker (another process) makes."""
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(statement)
        await session.commit()


async def test_every_change_the_calendar_shows_is_seen_at_the_next_read(
    desk: Desk, runtime: Runtime, replica: Replica
) -> None:
    paris = await desk.brand("maison")
    masto = await desk.channel(paris, "mastodon")
    soldes = await desk.post(paris, [masto], "2027-02-01T10:00", "Soldes")
    before = kept(runtime)
    first = await shown(desk)
    assert first == [("Soldes", "mastodon account", "scheduled", "2027-02-01T10:00:00+01:00")]
    assert kept(runtime) == before + 1, "the answer is kept"
    assert await shown(desk) == first

    created = await desk.post(paris, [masto], "2027-02-03T09:00", "Press day")
    assert [e[0] for e in await shown(desk)] == ["Soldes", "Press day"]

    await _edit(desk, soldes["id"], title="Winter sales")
    assert [e[0] for e in await shown(desk)] == ["Winter sales", "Press day"]

    unscheduled = await desk.client.post(
        f"/publications/{created['id']}/unschedule", headers=desk.headers
    )
    assert unscheduled.status_code == 200, unscheduled.text
    assert [e[0] for e in await shown(desk)] == ["Winter sales"]
    await desk.schedule(unscheduled.json(), local_time="2027-02-05T18:30")
    assert (await shown(desk))[1][3] == "2027-02-05T18:30:00+01:00"

    drafted = await desk.draft(paris, [masto], "Teaser")
    assert len(await shown(desk)) == 2
    await desk.schedule(drafted, local_time="2027-02-02T12:00")
    assert [e[0] for e in await shown(desk)] == ["Winter sales", "Teaser", "Press day"]

    canceled = await desk.client.post(f"/publications/{drafted['id']}/cancel", headers=desk.headers)
    assert canceled.status_code == 200, canceled.text
    assert (await shown(desk))[1][:3] == ("Teaser", "mastodon account", "canceled")

    # The worker publishes the first post: a write no request of this app makes.
    sold = uuid.UUID(soldes["id"])
    await _as_worker(
        runtime, update(Variant).where(Variant.publication_id == sold).values(status="published")
    )
    assert (await shown(desk))[0][2] == "published"

    # A refresh reads the account's new name from the network.
    await _as_worker(
        runtime, update(Channel).where(Channel.id == uuid.UUID(masto)).values(name="Maison Masto")
    )
    assert {e[1] for e in await shown(desk)} == {"Maison Masto"}

    renamed = await desk.get(f"/brands/{paris}")
    response = await desk.client.patch(
        f"/brands/{paris}",
        json={"name": "Maison Dupont"},
        headers={**desk.headers, "If-Match": renamed.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    items = (await calendar(desk)).json()["items"]
    assert {i["brand_name"] for i in items} == {"Maison Dupont"}

    # Another replica schedules a post: this process learns of it at its next read.
    body = {"title": "From the replica", "variants": [{"channel_id": masto, "text": "Hi"}]}
    made = await replica.client.post(
        f"/brands/{paris}/publications", json=body, headers=desk.headers
    )
    assert made.status_code == 201, made.text
    scheduled = await replica.client.post(
        f"/publications/{made.json()['id']}/schedule",
        json={"local_time": "2027-02-20T08:00"},
        headers={**desk.headers, "If-Match": f'"{made.json()["version"]}"'},
    )
    assert scheduled.status_code == 200, scheduled.text
    assert (await shown(desk))[-1][0] == "From the replica"

    # A publication's own change (its state) without touching its variants.
    await _as_worker(
        runtime, update(Publication).where(Publication.id == sold).values(status="published")
    )
    publication_states = [i["publication_status"] for i in (await calendar(desk)).json()["items"]]
    assert publication_states[0] == "published"


async def test_filters_and_pages_are_kept_apart(desk: Desk) -> None:
    paris = await desk.brand("maison")
    montreal = await desk.brand("erable", timezone="America/Montreal")
    masto = await desk.channel(paris, "mastodon")
    bsky = await desk.channel(montreal, "bluesky")
    await desk.post(paris, [masto], "2027-02-01T10:00", "Soldes")
    await desk.post(montreal, [bsky], "2027-02-02T08:00", "Sirop")
    await desk.post(paris, [masto], "2027-02-03T10:00", "Press day")
    assert [e[0] for e in await shown(desk)] == ["Soldes", "Sirop", "Press day"]
    assert [e[0] for e in await shown(desk, brand_id=montreal)] == ["Sirop"]
    assert [e[0] for e in await shown(desk, network="mastodon")] == ["Soldes", "Press day"]
    first = (await calendar(desk, limit=2)).json()
    assert [i["title"] for i in first["items"]] == ["Soldes", "Sirop"]
    rest = (await calendar(desk, limit=2, cursor=first["next_cursor"])).json()
    assert [i["title"] for i in rest["items"]] == ["Press day"]

    # A post of the other brand changes that brand's calendar, and the whole agency's.
    await desk.post(montreal, [bsky], "2027-02-04T08:00", "Crêpes")
    assert [e[0] for e in await shown(desk, brand_id=montreal)] == ["Sirop", "Crêpes"]
    assert [e[0] for e in await shown(desk, brand_id=paris)] == ["Soldes", "Press day"]
    assert len(await shown(desk)) == 4


async def test_a_kept_calendar_reaches_no_one_else(
    desk: Desk, client: httpx.AsyncClient, runtime: Runtime, tenant_b: Tenant
) -> None:
    paris = await desk.brand("maison")
    masto = await desk.channel(paris, "mastodon")
    await desk.post(paris, [masto], "2027-02-01T10:00", "Soldes")
    assert len(await shown(desk)) == 1
    assert len(await shown(desk, brand_id=paris)) == 1

    # Another agency asking the same, even naming the brand, reads its own (empty) calendar.
    for params in ({}, {"brand_id": paris}):
        other = await client.get(
            "/calendar", params={**FEBRUARY, **params}, headers=tenant_b.headers
        )
        assert other.status_code == 200, other.text
        assert other.json()["items"] == []

    # A client member of another brand sees nothing of this one's.
    voisin = await desk.brand("voisin")
    outsider = await add_client_member(
        client, desk.tenant, voisin, "reader@voisin.example", permissions=["calendar:read"]
    )
    token = await client_session(runtime, desk.tenant.agency_id, outsider["user_id"])
    for params in ({}, {"brand_id": paris}):
        walled = await client.get("/calendar", params={**FEBRUARY, **params}, headers=bearer(token))
        assert walled.status_code == 200, walled.text
        assert walled.json()["items"] == []

    # A member whose permissions do not include reading publications is refused.
    reader = await add_client_member(
        client, desk.tenant, paris, "reports@maison.example", permissions=["reports:read"]
    )
    token = await client_session(runtime, desk.tenant.agency_id, reader["user_id"])
    for params in ({}, {"brand_id": paris}):
        refused = await client.get(
            "/calendar", params={**FEBRUARY, **params}, headers=bearer(token)
        )
        assert_problem(refused, 403)


async def test_a_kept_calendar_answers_if_none_match_with_304(desk: Desk) -> None:
    paris = await desk.brand("maison")
    masto = await desk.channel(paris, "mastodon")
    await desk.post(paris, [masto], "2027-02-01T10:00", "Soldes")
    first = await calendar(desk)
    tag = first.headers["ETag"]
    assert tag.startswith('W/"')
    again = await desk.client.get(
        "/calendar", params=FEBRUARY, headers={**desk.headers, "If-None-Match": tag}
    )
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", tag)

    await desk.post(paris, [masto], "2027-02-02T10:00", "Press day")
    changed = await desk.client.get(
        "/calendar", params=FEBRUARY, headers={**desk.headers, "If-None-Match": tag}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert len(changed.json()["items"]) == 2


def test_a_size_of_zero_keeps_nothing() -> None:
    assert calendar_cache(0) is None
    assert calendar_cache(8) is calendar_cache(8)
