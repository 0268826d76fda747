"""Every claimer of the scheduler, and the jobs it enqueues, on the embedded default's SQLite.

The scheduler logs a claimer's failure and goes on, and a job's failure is a log line: here
each claimer runs on its own, its exception raised, then the worker runs what it enqueued
and any failure (a job's exception, an error logged) fails the test. Once over an empty
database, once over one where every claimer finds work: after the embedded process
restarted, when its in-process broker lost the messages it held and the claimers must find
everything again from the rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from agency.kernel.db import utcnow
from agency.kernel.jobs import JobBuffer, collecting
from agency.kernel.scheduling import _claimers, _periodic, ensure_periodic_rows
from agency.kernel.tenancy import bind_system
from agency.mail.models import MailMessage
from agency.publication.dispatch import Dispatchers
from tests.conftest import LiveServer
from tests.helpers import post_json
from tests.support.embedded import Embedded, Operator, assembled
from tests.support.embedded import embedded_idle as embedded_idle
from tests.support.embedded import operated as operated
from tests.support.embedded import operator as operator
from tests.support.images import picture
from tests.support.metricnet import TOKEN as METRICNET_TOKEN
from tests.support.metricnet import MetricNetState, build_metricnet
from tests.support.metrics import published_variant
from tests.support.reporting import snapshots
from tests.support.stubnet import BRAND, StubNetState
from tests.support.world import stubnet as stubnet

pytestmark = pytest.mark.slow  # a worker, a network and the CLI in processes

CLAIMERS = {
    "periodic",
    "webhook.deliveries",
    "metric_posts",
    "metric_accounts",
    "mail",
    "report_mail",
    "publications",
    "media_staging",
    "inbox_pulls",
    "inbox_answers",
    "inbox_moderations",
    "inbox_deadlines",
    "publication_series",
    "approvals",
}


async def claim(embedded: Embedded, name: str, now: datetime) -> int:
    """One claimer in its own transaction, as a tick runs it, but its exception raised; what
    it enqueued is sent once it committed."""
    runtime = embedded.runtime
    buffer = JobBuffer()
    async with runtime.session() as session:
        await bind_system(session)
        with collecting(buffer):
            claimed = await _claimers[name](session, runtime, now)
        await session.commit()
    buffer.flush(runtime.broker)
    return claimed


async def drained(embedded: Embedded, within: float = 60) -> None:
    """Wait until the worker has run every message, and those the jobs sent in turn, and the
    publishing dispatcher every group a job handed it (the job returns before its calls)."""
    broker = embedded.runtime.broker
    dispatchers = embedded.runtime.component(Dispatchers).each
    deadline = asyncio.get_running_loop().time() + within
    while any(q.unfinished_tasks for q in broker.queues.values()) or any(
        found.tasks for found in dispatchers()
    ):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the worker did not run every message in time")
        await asyncio.sleep(0.05)


def test_the_audit_knows_every_claimer() -> None:
    # A new claimer is added here, and to the scene below, so that it runs on SQLite too.
    assert set(_claimers) == CLAIMERS


async def test_every_claimer_runs_on_an_empty_database(embedded_idle: Embedded) -> None:
    await ensure_periodic_rows(embedded_idle.runtime)
    with embedded_idle.worker():
        for name in sorted(CLAIMERS):
            claimed = await claim(embedded_idle, name, utcnow() + timedelta(days=1))
            assert claimed == (len(_periodic) if name == "periodic" else 0), name
        await drained(embedded_idle)
    embedded_idle.assert_nothing_failed()


# -- every claimer finding work --------------------------------------------------------------

ESCROCS = "Arnaque, vous êtes des escrocs"


async def published_with_comments(embedded: Embedded, brand: str, channel: str) -> str:
    """A post on TalkNet published (the claim, the worker), commented on and the brand
    mentioned, read into the inbox by the periodic follow and a pull; its id there."""
    publication = await embedded.scheduled(brand, channel, "Nouvelle collection", 1)
    await asyncio.sleep(1)
    for _ in range(100):
        await claim(embedded, "publications", utcnow())
        await drained(embedded)
        embedded.assert_nothing_failed()
        current = await embedded.get(publication["id"])
        if current["status"] == "published":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"not published: {current}")
    post_id = str(current["variants"][0]["post_id"])
    embedded.net.say(post_id, "Superbe !")
    embedded.net.say(post_id, ESCROCS)
    embedded.net.mention(f"@{BRAND} livrez-vous en Belgique ?")
    await ensure_periodic_rows(embedded.runtime)
    assert await claim(embedded, "periodic", utcnow()) > 0  # inbox and reporting follow
    await drained(embedded)
    assert await claim(embedded, "inbox_pulls", utcnow()) > 0
    await drained(embedded)
    return str(current["id"])


async def inbox_messages(embedded: Embedded, brand: str) -> list[dict[str, Any]]:
    response = await embedded.client.get(
        f"/inbox/messages?brand_id={brand}", headers=embedded.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def owner_member(embedded: Embedded) -> str:
    response = await embedded.client.get("/members", headers=embedded.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["id"])


async def uploaded_photo(embedded: Embedded, brand: str) -> str:
    photo = await embedded.client.post(
        f"/brands/{brand}/media",
        files={"file": ("photo.png", picture("PNG", (640, 480)), "image/png")},
        headers=embedded.headers,
    )
    assert photo.status_code == 201, photo.text
    return str(photo.json()["id"])


async def work_left_behind(embedded: Embedded, brand: str, channel: str) -> str:
    """Through the API, work for every other claimer, while no worker runs: the messages
    the requests send wait in the in-process broker. The id of the post with a photo."""
    tenant = embedded.operator.tenant
    photo = await uploaded_photo(embedded, brand)
    # Its media go up ahead (media_staging); a daily series (publication_series).
    photos = await embedded.channel(brand, "stubnet")  # TalkNet takes no image
    with_photo = await embedded.scheduled(brand, photos, "Avec photo", 300, media_ids=[photo])
    await embedded.scheduled(
        brand, channel, "Chaque jour", 3600, publication={"recurrence": "FREQ=DAILY"}
    )
    # A post due now (publications), and one waiting for an approval due before its time.
    await embedded.scheduled(brand, channel, "Maintenant", 0.5)
    await post_json(
        embedded.client,
        tenant,
        f"/brands/{brand}/approval-policies",
        {
            "name": "Direction",
            "is_default": True,  # after the posts above: they went out of review
            "steps": [
                {
                    "name": "Owner",
                    "approvers": {"roles": ["owner"]},
                    "due_minutes_before": 60,
                    "remind_minutes_before": 30,
                }
            ],
        },
    )
    in_review = await embedded.scheduled(brand, channel, "À valider", 7200)
    assert in_review["status"] == "in_review", in_review
    # A webhook's ping (webhook.deliveries), an invitation's e-mail (mail), a daily report
    # (report_mail).
    hook = await post_json(
        embedded.client, tenant, "/webhooks", {"url": f"{embedded.net_url}/hooks"}
    )
    await post_json(embedded.client, tenant, f"/webhooks/{hook['id']}/ping", {}, status=202)
    await post_json(
        embedded.client, tenant, "/invitations", {"email": "new@maison.example", "role": "analyst"}
    )
    await post_json(
        embedded.client,
        tenant,
        f"/brands/{brand}/report-schedules",
        {
            "name": "Daily",
            "rule": "FREQ=DAILY;BYHOUR=8;BYMINUTE=0",
            "period": "month_to_date",
            "data_delay_hours": 0,
            "recipients": {"members": [{"member_id": await owner_member(embedded)}]},
        },
    )
    # An answer and a hide, from the inbox (inbox_answers, inbox_moderations).
    messages = {m["text"]: m for m in await inbox_messages(embedded, brand)}
    await post_json(
        embedded.client,
        tenant,
        f"/inbox/messages/{messages['Superbe !']['id']}/answers",
        {"text": "Merci !"},
        status=202,
    )
    await post_json(
        embedded.client,
        tenant,
        f"/inbox/messages/{messages[ESCROCS]['id']}/hide",
        {"clause": 3},
        status=202,
    )
    return str(with_photo["id"])


@pytest.fixture
def metricnet() -> Iterator[tuple[MetricNetState, str]]:
    state = MetricNetState()
    with LiveServer(build_metricnet(state)) as server:
        yield state, server.url


async def test_every_claimer_finds_its_work_again_after_a_restart(
    operator: Operator,
    stubnet: tuple[StubNetState, str],
    metricnet: tuple[MetricNetState, str],
) -> None:
    figures, metricnet_url = metricnet
    figures.posts["m-1"] = {"views": 120, "likes": 7, "replies": 2}
    async with assembled(operator, stubnet, metricnet_url) as before:
        brand, channel = await before.brand_and_channel(
            "maison-tout",
            "talknet",
            community_charter={"clauses": [{"number": 3, "text": "Pas d'insultes."}]},
        )
        # A post published an hour ago where the network gives its figures (metric_posts,
        # metric_accounts once the periodic follow took it and its channel).
        measured = await before.channel(brand, "metricnet", METRICNET_TOKEN)
        _, counted = await published_variant(
            before.runtime,
            operator.agency_id,
            brand,
            measured,
            "metricnet",
            utcnow() - timedelta(hours=1),
            post_id="m-1",
        )
        with before.worker():
            await published_with_comments(before, brand, channel)
        photo_post = await work_left_behind(before, brand, channel)
        before.assert_nothing_failed()

    # The process restarted: the messages its in-process broker held are gone.
    async with assembled(operator, stubnet, metricnet_url) as after:
        # The approval step's reminder, due before the step is.
        assert await claim(after, "approvals", utcnow() + timedelta(minutes=45)) == 1
        claimed = await claim_all(after, utcnow() + timedelta(days=1), utcnow())
        assert {name for name, count in claimed.items() if not count} == set(), claimed
        with after.worker():
            await drained(after)
            await assert_done(after, str(counted.id), measured)
            await a_day_on(after, photo_post)
            await at_its_time_or_missed(after)
        after.assert_nothing_failed()
        # In the outbox (no SMTP server set): the approval's request, reminder and hold, the
        # invitation, the report.
        assert await mail_sent(after) == {
            ("approval_held", "sent"),
            ("approval_reminder", "sent"),
            ("approval_requested", "sent"),
            ("report", "sent"),
            ("staff_invitation", "sent"),
        }


async def assert_done(embedded: Embedded, post_metric: str, measured: str) -> None:
    """What the jobs of the first claims did, on the networks and in the file."""
    net = embedded.net
    assert [r["text"] for r in net.replies("Merci !")] == ["Merci !"]
    insult = next(c["id"] for c in net.comments if c["text"] == ESCROCS)
    assert net.moderated == [("hide", insult)]
    assert len(net.media) == 1  # the photo, uploaded ahead of its post
    assert net.count("Maintenant") == 1
    read = await snapshots(embedded.runtime, post_metric)
    assert [(s.outcome, s.impressions) for s in read] == [("ok", 120)]
    read = await snapshots(embedded.runtime, measured)
    assert [(s.outcome, s.followers) for s in read] == [("ok", 1000)]


async def a_day_on(embedded: Embedded, photo_post: str) -> None:
    """The upload ahead of a post canceled since is deleted; the rest left for later
    (retries, the next metrics, the series' next day) is claimed again a day on."""
    canceled = await embedded.client.post(
        f"/publications/{photo_post}/cancel", headers=embedded.headers
    )
    assert canceled.status_code == 200, canceled.text
    two_days = utcnow() + timedelta(days=2)
    await claim_all(embedded, two_days, two_days, each_drained=True)
    [upload] = embedded.net.media.values()
    assert upload.get("deleted_at") is not None


async def at_its_time_or_missed(embedded: Embedded) -> None:
    """A photo not uploaded ahead goes up with its post (on a brand without approvals);
    what is still scheduled three days on is missed, settled by a job."""
    brand, channel = await embedded.brand_and_channel("maison-photo")
    photo = await uploaded_photo(embedded, brand)
    await embedded.scheduled(brand, channel, "Photo à l'heure", 1, media_ids=[photo])
    await asyncio.sleep(1)
    assert await claim(embedded, "publications", utcnow()) == 1
    await drained(embedded)
    assert embedded.net.count("Photo à l'heure") == 1
    assert await claim(embedded, "publications", utcnow() + timedelta(days=3)) > 0
    await drained(embedded)


async def mail_sent(embedded: Embedded) -> set[tuple[str, str]]:
    """Each e-mail's template and status (a report may have gone out for two periods)."""
    async with embedded.runtime.session() as session:
        await bind_system(session)
        rows = await session.execute(select(MailMessage.template, MailMessage.status))
        return {(template, status) for template, status in rows}


async def claim_all(
    embedded: Embedded, later: datetime, staging: datetime, each_drained: bool = False
) -> dict[str, int]:
    """Every claimer once, in name order: at ``later``, but publishing's now (its jobs hold
    a post until its time) and staging's at ``staging`` (it takes the posts due soon after);
    ``each_drained``: the worker runs what one sent before the next claims
    (the metrics pulled before a report waiting for them is tried again)."""
    claimed = {}
    for name in sorted(CLAIMERS):
        at = {"publications": utcnow(), "media_staging": staging}.get(name, later)
        claimed[name] = await claim(embedded, name, at)
        if each_drained:
            await drained(embedded)
    return claimed
