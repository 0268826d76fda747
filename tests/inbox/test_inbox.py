"""The inbox through the API, the scheduler's claims and a real Dramatiq worker on Redis,
against a network on loopback that keeps a conversation (tests/support/stubnet.py): comments
collected once and triaged, answers sent exactly once (lost answers, 500s, refusals), held in
a crisis, deadlines, moderation citing the community charter, and bad input."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update

from agency.channel.credentials import seal
from agency.channel.models import Channel
from agency.config import (
    ConnectorSettings,
    InboxSettings,
    MediaSettings,
    NetworkSettings,
    PublishingSettings,
)
from agency.connector.base import Credentials
from agency.connector.registry import Registry
from agency.inbox.models import InboxChannel
from agency.inbox.tasks import follow_new
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.helpers import assert_problem, bearer, create_brand, insert_channel, invite_and_join
from tests.support.publishing import (
    published_now,
    running_worker,
    serving,
)
from tests.support.stubnet import (
    BRAND,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    StubNetConnector,
    StubNetState,
    TalkNetConnector,
    build_stubnet,
)


@dataclass
class Desk:
    client: httpx.AsyncClient
    runtime: Runtime
    net: StubNetState
    tenant: Tenant

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    async def brand(self, slug: str = "maison", **extra: Any) -> str:
        return await create_brand(self.client, self.tenant, slug, name="Maison", **extra)

    async def post(self, brand: str, text: str = "Nouvelle collection") -> tuple[str, str]:
        """A post published through the pipeline on a new channel: (channel id, post id)."""
        channel = await insert_channel(self.runtime, self.tenant.agency_id, brand, "talknet", TOKEN)
        await self.set_channel(channel, account_id=BRAND)
        done = await published_now(self.client, self.runtime, self.headers, brand, channel, text)
        return channel, str(done["variants"][0]["post_id"])

    async def set_channel(self, channel: str, **values: Any) -> None:
        async with self.runtime.session() as session:
            await bind_system(session)
            await session.execute(
                update(Channel).where(Channel.id == uuid.UUID(channel)).values(**values)
            )
            await session.commit()

    async def due_now(self) -> None:
        """Every followed channel's next pull comes now (as if its rhythm had come)."""
        async with self.runtime.session() as session:
            await bind_system(session)
            await session.execute(update(InboxChannel).values(next_pull_at=utcnow()))
            await session.commit()

    async def collect(self, brand: str, count: int) -> list[dict[str, Any]]:
        """Follow new channels, make their pulls due, and run the scheduler until the brand's
        inbox holds ``count`` messages."""
        async with self.runtime.session() as session:
            await follow_new(session, self.runtime, utcnow())
            await session.commit()
        await self.due_now()
        page = await self.wait(
            lambda: self.get(f"/inbox/messages?brand_id={brand}"),
            lambda p: len(p["items"]) >= count,
        )
        return list(page["items"])

    async def get(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.client.get(url, headers=headers or self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait(
        self,
        read: Callable[[], Any],
        done: Callable[[dict[str, Any]], bool],
        within: float = 20,
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            await tick(self.runtime)
            current: dict[str, Any] = await read()
            if done(current):
                return current
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; now {current}")
            await asyncio.sleep(0.1)

    async def answer(
        self, message_id: str, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/inbox/messages/{message_id}/answers", json=body, headers=headers or self.headers
        )

    async def answered(self, answer_id: str, status: str = "sent") -> dict[str, Any]:
        return await self.wait(
            lambda: self.get(f"/inbox/answers/{answer_id}"), lambda a: a["status"] == status
        )

    async def rules(self, brand: str, body: dict[str, Any]) -> dict[str, Any]:
        current = await self.client.get(f"/brands/{brand}/inbox-rules", headers=self.headers)
        response = await self.client.put(
            f"/brands/{brand}/inbox-rules",
            json=body,
            headers={**self.headers, "If-Match": current.headers["etag"]},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def talknet() -> Iterator[tuple[StubNetState, str]]:
    state = StubNetState()
    with LiveServer(build_stubnet(state)) as server:
        yield state, server.url


@pytest.fixture
async def desk(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    talknet: tuple[StubNetState, str],
    tenant_a: Tenant,
    tmp_path: Path,
) -> AsyncIterator[Desk]:
    state, url = talknet
    settings = make_settings(pg, redis_server.url)
    settings.media = MediaSettings(storage="local", local_path=str(tmp_path / "media"))
    network = NetworkSettings(
        base_url=url, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
    )
    settings.connectors = ConnectorSettings(
        networks={"stubnet": network, "talknet": network}, http_timeout_seconds=2.0
    )
    settings.publishing = PublishingSettings(lease_seconds=1.0, stale_attempt_seconds=3.0)
    settings.inbox = InboxSettings(lease_seconds=1.0, stale_answer_seconds=3.0, max_attempts=3)
    registry = Registry([StubNetConnector, TalkNetConnector])
    async with serving(runtime, settings, registry) as (client, test_runtime):
        yield Desk(client, test_runtime, state, tenant_a)


@pytest.fixture
def worker(desk: Desk) -> Iterator[dramatiq.Worker]:
    with running_worker(desk.runtime) as consumer:
        yield consumer


def by_text(items: list[dict[str, Any]], text: str) -> dict[str, Any]:
    return next(m for m in items if m["text"] == text)


# -- collection and triage ----------------------------------------------------------------------


async def test_comments_are_collected_once_triaged_and_answered_once(
    desk: Desk, worker: dramatiq.Worker
) -> None:
    brand = await desk.brand()
    await desk.rules(brand, {"handles": {"journalist": ["@jdupont"]}})
    channel, post = await desk.post(brand)
    desk.net.say(post, "Quand sort la collection ?", author="jdupont", ago=timedelta(minutes=5))
    desk.net.say(post, "Colis jamais reçu, je veux un remboursement", author="lea")
    desk.net.say(post, "https://spam.example/win", author="bot42")

    items = await desk.collect(brand, 3)
    question = by_text(items, "Quand sort la collection ?")
    assert question["origin"] == {
        "value": "journalist",
        "why": "@jdupont is on the brand's journalist list.",
    }
    assert question["kind"]["value"] == "question"
    assert question["status"] == "new"
    received = datetime.fromisoformat(question["received_at"])
    # A journalist's deadline (30 min) is shorter than the default (4 h).
    assert datetime.fromisoformat(question["due_at"]) == received + timedelta(minutes=30)
    complaint = by_text(items, "Colis jamais reçu, je veux un remboursement")
    assert (complaint["origin"]["value"], complaint["kind"]["value"]) == ("unknown", "complaint")
    assert "remboursement" in complaint["kind"]["why"]
    spam = by_text(items, "https://spam.example/win")
    assert (spam["kind"]["value"], spam["due_at"], spam["status"]) == ("spam", None, "closed")
    thread = await desk.get(f"/inbox/threads/{question['thread_id']}")
    assert (thread["post_id"], thread["title"], len(thread["messages"])) == (post, "Launch", 3)

    # The same pull again, and again after the cursor: nothing is stored twice.
    listings = desk.net.listings
    await desk.due_now()
    await desk.wait(lambda: desk.get(f"/inbox/messages?brand_id={brand}"), lambda _: True)
    await desk.wait(
        lambda: desk.get(f"/inbox/messages?brand_id={brand}"),
        lambda _: desk.net.listings > listings,
    )
    again = await desk.get(f"/inbox/messages?brand_id={brand}")
    assert len(again["items"]) == 3

    answer = await desk.answer(question["id"], text="Le 12 mars, en boutique et en ligne.")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    sent = await desk.answered(answer.json()["id"])
    replies = desk.net.replies("Le 12 mars, en boutique et en ligne.")
    assert len(replies) == 1
    assert replies[0]["in_reply_to"] == question["network_id"]
    assert sent["reply_id"] == replies[0]["id"]
    assert [(a["kind"], a["outcome"]) for a in sent["attempts"]] == [("send", "sent")]
    message = await desk.get(f"/inbox/messages/{question['id']}")
    assert message["status"] == "answered"
    assert message["response_seconds"] >= 5 * 60
    assert message["answers"][0]["status"] == "sent"

    # The brand's own reply, read back by the next pull, is an answer, not a message.
    listings = desk.net.listings
    await desk.due_now()
    await desk.wait(
        lambda: desk.get(f"/inbox/messages?brand_id={brand}"),
        lambda _: desk.net.listings > listings,
    )
    assert len((await desk.get(f"/inbox/messages?brand_id={brand}"))["items"]) == 3
    # A second answer while one is on its way would answer twice: only after it is sent.
    assert channel


async def test_a_lost_answer_is_found_in_the_thread_not_sent_twice(
    desk: Desk, worker: dramatiq.Worker
) -> None:
    brand = await desk.brand()
    _, post = await desk.post(brand)
    desk.net.say(post, "Livrez-vous en Belgique ?")
    (message,) = await desk.collect(brand, 1)
    desk.net.reply_plan.append("lose")  # the network takes it; its answer never comes back
    answer = await desk.answer(message["id"], text="Oui, partout en Belgique.")
    sent = await desk.answered(answer.json()["id"])
    assert len(desk.net.replies("Oui, partout en Belgique.")) == 1
    assert [(a["kind"], a["outcome"]) for a in sent["attempts"]] == [
        ("send", "unknown"),
        ("reconcile", "found"),
    ]


async def test_a_500_is_checked_in_the_thread_then_sent_once(
    desk: Desk, worker: dramatiq.Worker
) -> None:
    brand = await desk.brand()
    _, post = await desk.post(brand)
    desk.net.say(post, "Des tailles XXL ?")
    (message,) = await desk.collect(brand, 1)
    desk.net.reply_plan.append("500")
    answer = await desk.answer(message["id"], text="Oui, du XS au XXL.")
    sent = await desk.answered(answer.json()["id"])
    assert len(desk.net.replies("Oui, du XS au XXL.")) == 1
    assert [(a["kind"], a["outcome"]) for a in sent["attempts"]] == [
        ("send", "unknown"),
        ("reconcile", "not_found"),
        ("send", "sent"),
    ]
    # The same key each time: a network that deduplicates would have kept one.
    assert len(set(desk.net.replies_by_key)) == 1


async def test_a_refusal_is_the_answers_logged_outcome(desk: Desk, worker: dramatiq.Worker) -> None:
    brand = await desk.brand()
    _, post = await desk.post(brand)
    desk.net.say(post, "Et pour la France ?")
    (message,) = await desk.collect(brand, 1)
    desk.net.reply_plan.append("refuse")
    answer = await desk.answer(message["id"], text="Bien sûr.")
    failed = await desk.answered(answer.json()["id"], "failed")
    assert "Replies are closed on this post" in failed["last_error"]
    assert [(a["outcome"], a["http_status"]) for a in failed["attempts"]] == [("failed", 403)]
    assert desk.net.replies("Bien sûr.") == []
    events = await desk.get("/audit-events?action=inbox.answer.failed")
    assert len(events["items"]) == 1


async def test_a_crisis_holds_an_answer_until_a_decision_maker_approves(
    desk: Desk, worker: dramatiq.Worker
) -> None:
    brand = await desk.brand()
    _, post = await desk.post(brand)
    desk.net.say(post, "C'est vrai ce rappel produit ?")
    (message,) = await desk.collect(brand, 1)
    crisis = await desk.client.post(
        f"/brands/{brand}/crisis", json={"reason": "Recall rumours"}, headers=desk.headers
    )
    assert crisis.status_code == 201, crisis.text
    cm = await invite_and_join(desk.client, desk.tenant, "cm@alpha.example", "community_manager")
    cm_headers = bearer(cm["token"])
    answer = await desk.answer(message["id"], headers=cm_headers, text="Nous vérifions.")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "held"
    answer_id = answer.json()["id"]
    for _ in range(5):
        await tick(desk.runtime)
        await asyncio.sleep(0.1)
    assert desk.net.replies("Nous vérifions.") == []
    # The community manager may not let it out; the author never approves their own.
    approve = f"/inbox/answers/{answer_id}/approve"
    assert_problem(await desk.client.post(approve, headers=cm_headers), 403, "crisis:manage")
    mine = await desk.answer(message["id"], text="Nous vérifions encore.")
    assert_problem(mine, 409, "on its way")

    approved = await desk.client.post(approve, headers=desk.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "queued"
    await desk.answered(answer_id)
    assert len(desk.net.replies("Nous vérifions.")) == 1
    timeline = await desk.get(f"/crises/{crisis.json()['id']}/timeline")
    kinds = [e["kind"] for e in timeline["events"]]
    assert "answer_held" in kinds and "answer_decided" in kinds


async def test_the_author_of_a_held_answer_cannot_approve_it(desk: Desk) -> None:
    brand = await desk.brand()
    message = await _message(desk, brand)
    await desk.client.post(f"/brands/{brand}/crisis", json={"reason": "x"}, headers=desk.headers)
    answer = await desk.answer(message["id"], text="Pas de commentaire.")
    assert answer.json()["status"] == "held"
    response = await desk.client.post(
        f"/inbox/answers/{answer.json()['id']}/approve", headers=desk.headers
    )
    assert_problem(response, 403, "four eyes")


# -- deadlines, sorting, filters ----------------------------------------------------------------


async def test_deadlines_overdue_filters_and_keyset_pages(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    await desk.rules(
        brand,
        {
            "handles": {"journalist": ["presse_ouest"]},
            "sla": {"default_minutes": 240, "networks": {"talknet": 60}},
        },
    )
    _, post = await desk.post(brand)
    # The network's clock says when each was written: the deadlines run from then.
    desk.net.say(post, "Une interview ?", author="presse_ouest", ago=timedelta(minutes=45))
    desk.net.say(post, "Joli !", author="ana", ago=timedelta(minutes=30))
    desk.net.say(post, "Toujours pas reçu", author="bob", ago=timedelta(hours=2))
    items = await desk.collect(brand, 3)
    journalist = by_text(items, "Une interview ?")
    received = datetime.fromisoformat(journalist["received_at"])
    assert datetime.fromisoformat(journalist["due_at"]) == received + timedelta(minutes=30)
    pretty = by_text(items, "Joli !")
    assert pretty["due_at"] is not None
    assert not pretty["overdue"]

    late = await desk.get(f"/inbox/messages?brand_id={brand}&overdue=true&sort=due")
    assert [m["text"] for m in late["items"]] == ["Toujours pas reçu", "Une interview ?"]
    # Keyset pages in deadline order: one at a time, nothing twice, nothing skipped.
    seen: list[str] = []
    url = f"/inbox/messages?brand_id={brand}&sort=due&limit=1"
    cursor = None
    while True:
        page = await desk.get(url + (f"&cursor={cursor}" if cursor else ""))
        seen += [m["text"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["Toujours pas reçu", "Une interview ?", "Joli !"]
    only = await desk.get(f"/inbox/messages?origin=journalist&brand_id={brand}")
    assert [m["text"] for m in only["items"]] == ["Une interview ?"]

    # A person corrects the origin: the deadline follows, and says who set it.
    current = await desk.client.get(f"/inbox/messages/{pretty['id']}", headers=desk.headers)
    changed = await desk.client.patch(
        f"/inbox/messages/{pretty['id']}",
        json={"origin": "journalist", "status": "waiting"},
        headers={**desk.headers, "If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["origin"]["value"] == "journalist"
    assert body["origin"]["why"].startswith("Set by api_token")
    due = datetime.fromisoformat(body["due_at"])
    assert due == datetime.fromisoformat(pretty["received_at"]) + timedelta(minutes=30)
    assert body["overdue"] and body["status"] == "waiting"
    stale = await desk.client.patch(
        f"/inbox/messages/{pretty['id']}",
        json={"status": "closed"},
        headers={**desk.headers, "If-Match": current.headers["etag"]},
    )
    assert_problem(stale, 412)


async def test_a_channel_to_reconnect_is_skipped_and_nothing_is_missed(
    desk: Desk, worker: Any
) -> None:
    brand = await desk.brand()
    channel, post = await desk.post(brand)
    desk.net.say(post, "Premier !")
    await desk.collect(brand, 1)
    await desk.set_channel(channel, health="needs_reconnect")
    desk.net.say(post, "Écrit pendant la panne")
    listings = desk.net.listings
    await desk.due_now()
    for _ in range(10):
        await tick(desk.runtime)
        await asyncio.sleep(0.1)
    assert desk.net.listings == listings  # not asked at all
    assert len((await desk.get(f"/inbox/messages?brand_id={brand}"))["items"]) == 1
    await desk.set_channel(channel, health="ok")
    items = await desk.collect(brand, 2)
    assert {m["text"] for m in items} == {"Premier !", "Écrit pendant la panne"}


async def test_reads_meeting_an_expired_token_at_once_renew_it_once(
    desk: Desk, worker: Any
) -> None:
    """One pull reads two threads of a channel side by side, and both meet the token that
    just died: it is renewed once (the network spends a refresh token once) and both
    threads are read with the new one."""
    brand = await desk.brand()
    channel, first = await desk.post(brand)
    done = await published_now(desk.client, desk.runtime, desk.headers, brand, channel, "Deux")
    second = str(done["variants"][0]["post_id"])
    credentials = Credentials(access_token=TOKEN, refresh_token=REFRESH_TOKEN)
    await desk.set_channel(
        channel, refreshable=True, credentials=seal(desk.runtime.secrets, credentials)
    )
    desk.net.say(first, "Sous le premier")
    desk.net.say(second, "Sous le second")
    desk.net.expire_token()
    items = await desk.collect(brand, 2)
    assert {m["text"] for m in items} == {"Sous le premier", "Sous le second"}
    assert len(desk.net.refreshes) == 1
    health = (await desk.get(f"/channels/{channel}"))["health"]
    assert health == "ok"


# -- answers: saved replies and bad input --------------------------------------------------------


async def _message(desk: Desk, brand: str, text: str = "Bonjour ?", **say: Any) -> dict[str, Any]:
    with running_worker(desk.runtime):
        _, post = await desk.post(brand)
        desk.net.say(post, text, **say)
        (message,) = await desk.collect(brand, 1)
    return message


async def test_saved_replies_are_rendered_with_the_messages_author(desk: Desk) -> None:
    brand = await desk.brand()
    message = await _message(desk, brand, author="camille_d", name="Camille Durand")
    bad = await desk.client.post(
        f"/brands/{brand}/saved-replies",
        json={"name": "Oops", "text": "Bonjour {first_name} {author.__class__}"},
        headers=desk.headers,
    )
    assert_problem(bad, 422, "{author}")
    saved = await desk.client.post(
        f"/brands/{brand}/saved-replies",
        json={"name": "Merci", "text": "Merci {first_name} ({author}), l'équipe {brand}."},
        headers=desk.headers,
    )
    assert saved.status_code == 201, saved.text
    answer = await desk.answer(message["id"], saved_reply_id=saved.json()["id"])
    assert answer.status_code == 202, answer.text
    assert answer.json()["text"] == "Merci Camille (@Camille Durand), l'équipe Maison."
    listed = await desk.get(f"/brands/{brand}/saved-replies")
    assert [s["name"] for s in listed["items"]] == ["Merci"]


async def test_bad_answers_are_refused_with_problems_and_nothing_is_sent(
    desk: Desk, tenant_b: Tenant
) -> None:
    brand = await desk.brand(editorial_charter={"words_to_avoid": ["gratuit"]})
    message = await _message(desk, brand)
    too_long = await desk.answer(message["id"], text="x" * 281)
    body = assert_problem(too_long, 422, "280")
    assert body["errors"][0]["code"] == "too_long"
    assert body["errors"][0]["params"]["max"] == 280
    charter = await desk.answer(message["id"], text="C'est gratuit !")
    assert assert_problem(charter, 422, "gratuit")["errors"][0]["code"] == "charter_word"
    neither = await desk.answer(message["id"])
    assert_problem(neither, 422)
    # Another agency's message is a missing one.
    other = await desk.answer(message["id"], headers=tenant_b.headers, text="Bonjour")
    assert_problem(other, 404)
    assert_problem(
        await desk.client.get(f"/inbox/messages/{message['id']}", headers=tenant_b.headers), 404
    )
    # An analyst reads the inbox but does not answer, nor moderate.
    analyst = await invite_and_join(desk.client, desk.tenant, "an@alpha.example", "analyst")
    reader = bearer(analyst["token"])
    assert (await desk.client.get("/inbox/messages", headers=reader)).status_code == 200
    refused = await desk.answer(message["id"], headers=reader, text="Bonjour")
    assert_problem(refused, 403, "comments:answer")
    hide = await desk.client.post(
        f"/inbox/messages/{message['id']}/hide", json={"clause": 1}, headers=reader
    )
    assert_problem(hide, 403, "comments:moderate")
    assert (await desk.get(f"/inbox/messages/{message['id']}"))["answers"] == []


async def test_hiding_and_deleting_cite_the_community_charter(desk: Desk) -> None:
    brand = await desk.brand(community_charter={"clauses": [{"number": 3, "text": "No insults."}]})
    message = await _message(desk, brand, text="Vous êtes des abrutis")
    assert message["kind"]["value"] == "abuse"
    url = f"/inbox/messages/{message['id']}"
    missing = await desk.client.post(f"{url}/hide", json={}, headers=desk.headers)
    assert assert_problem(missing, 422, "clause")["errors"][0]["code"] == "charter_clause_required"
    unknown = await desk.client.post(f"{url}/delete", json={"clause": 7}, headers=desk.headers)
    assert assert_problem(unknown, 422, "7")["errors"][0]["code"] == "unknown_clause"
    assert desk.net.moderated == []
    with running_worker(desk.runtime):
        await _hidden_then_deleted(desk, message)


async def _hidden_then_deleted(desk: Desk, message: dict[str, Any]) -> None:
    url = f"/inbox/messages/{message['id']}"
    # The request records the action and answers 202; the worker calls the network.
    hidden = await desk.client.post(f"{url}/hide", json={"clause": 3}, headers=desk.headers)
    assert hidden.status_code == 202, hidden.text
    assert (hidden.json()["action"], hidden.json()["status"]) == ("hide", "queued")
    assert hidden.json()["clause_text"] == "No insults."
    done = await desk.wait(lambda: desk.get(url), lambda m: m["moderation"]["status"] == "done")
    assert done["hidden"] is True
    assert done["moderation"]["clause_text"] == "No insults."
    deleted = await desk.client.post(f"{url}/delete", json={"clause": 3}, headers=desk.headers)
    assert deleted.status_code == 202, deleted.text
    gone = await desk.wait(lambda: desk.get(url), lambda m: m["deleted"])
    assert gone["moderation"]["action"] == "delete"
    assert desk.net.moderated == [
        ("hide", message["network_id"]),
        ("delete", message["network_id"]),
    ]
    audit = await desk.get("/audit-events?action=inbox.message.delete")
    assert audit["items"][0]["changes"]["clause"] == 3
    assert audit["items"][0]["changes"]["clause_text"] == "No insults."
    again = await desk.client.post(f"{url}/hide", json={"clause": 3}, headers=desk.headers)
    assert_problem(again, 409, "deleted")


async def test_a_moderation_the_network_refuses_is_its_outcome_and_a_500_is_retried(
    desk: Desk,
) -> None:
    brand = await desk.brand(community_charter={"clauses": [{"number": 1, "text": "No spam."}]})
    message = await _message(desk, brand, text="Achetez mes abonnés")
    with running_worker(desk.runtime):
        await _retried_then_refused(desk, message)


async def _retried_then_refused(desk: Desk, message: dict[str, Any]) -> None:
    url = f"/inbox/messages/{message['id']}"
    # A 500 first: the worker calls again (hiding twice changes nothing), and it is done.
    desk.net.moderation_plan.append("500")
    hidden = await desk.client.post(f"{url}/hide", json={"clause": 1}, headers=desk.headers)
    assert hidden.status_code == 202, hidden.text
    done = await desk.wait(lambda: desk.get(url), lambda m: m["moderation"]["status"] == "done")
    assert done["hidden"] is True
    assert desk.net.moderated == [("hide", message["network_id"])]

    # The author deleted it meanwhile: the network's refusal is the action's outcome.
    desk.net.moderation_plan.append("gone")
    deleted = await desk.client.post(f"{url}/delete", json={"clause": 1}, headers=desk.headers)
    assert deleted.status_code == 202, deleted.text
    refused = await desk.wait(
        lambda: desk.get(url), lambda m: m["moderation"]["status"] == "refused"
    )
    assert refused["deleted"] is False
    assert "deleted by its author" in refused["moderation"]["detail"]
    audit = await desk.get("/audit-events?action=inbox.moderation.refused")
    assert audit["items"][0]["changes"]["http_status"] == 404


async def test_the_inbox_speaks_french_to_whoever_asks(desk: Desk) -> None:
    brand = await desk.brand(community_charter={"clauses": [{"number": 3, "text": "No insults."}]})
    message = await _message(desk, brand)
    url = f"/inbox/messages/{message['id']}"
    french = {**desk.headers, "Accept-Language": "fr"}
    unknown = await desk.client.post(f"{url}/hide", json={"clause": 7}, headers=french)
    problem = assert_problem(unknown, 422, "clause")
    assert problem["detail"] == (
        "La charte de communauté de la marque n'a pas de clause 7 (ses clauses : 3)."
    )
    assert problem["errors"][0]["code"] == "unknown_clause"
    both = await desk.client.post(
        f"{url}/answers", json={"text": "Oui", "saved_reply_id": str(uuid.uuid4())}, headers=french
    )
    assert assert_problem(both, 422, "text")["detail"] == "Envoyez soit text, soit saved_reply_id."
    placeholder = await desk.client.post(
        f"/brands/{brand}/saved-replies", json={"name": "x", "text": "Hi {who}"}, headers=french
    )
    assert assert_problem(placeholder, 422, "text")["errors"][0]["message"] == (
        "Variable inconnue {who} ; les variables connues sont {author}, {first_name}, {brand}."
    )
    # The same in English without the header.
    english = await desk.client.post(f"{url}/hide", json={}, headers=desk.headers)
    assert assert_problem(english, 422, "clause")["detail"] == (
        "Cite the clause of the brand's community charter that justifies this (its clauses: 3)."
    )


async def test_notes_and_assignment_stay_inside_the_agency(desk: Desk) -> None:
    brand = await desk.brand()
    message = await _message(desk, brand)
    cm = await invite_and_join(desk.client, desk.tenant, "cm@alpha.example", "community_manager")
    note = await desk.client.post(
        f"/inbox/messages/{message['id']}/notes",
        json={"text": "Client VIP, répondre vite."},
        headers=desk.headers,
    )
    assert note.status_code == 201, note.text
    current = await desk.client.get(f"/inbox/messages/{message['id']}", headers=desk.headers)
    assigned = await desk.client.patch(
        f"/inbox/messages/{message['id']}",
        json={"assigned_to": cm["user_id"]},
        headers={**desk.headers, "If-Match": current.headers["etag"]},
    )
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["assigned_to"], assigned.json()["status"]) == (
        cm["user_id"],
        "assigned",
    )
    assert [n["text"] for n in assigned.json()["notes"]] == ["Client VIP, répondre vite."]
    nobody = await desk.client.patch(
        f"/inbox/messages/{message['id']}",
        json={"assigned_to": str(uuid.uuid4())},
        headers={**desk.headers, "If-Match": assigned.headers["etag"]},
    )
    assert assert_problem(nobody, 422)["errors"][0]["code"] == "unknown_member"
    mine = await desk.get(f"/inbox/messages?assigned_to={cm['user_id']}")
    assert [m["id"] for m in mine["items"]] == [message["id"]]
    assert datetime.now(UTC) > datetime.fromisoformat(message["received_at"])


async def test_a_mention_opens_its_own_thread_once_and_is_answered_there(
    desk: Desk, worker: dramatiq.Worker
) -> None:
    """Someone else's post naming the brand is a conversation of its own; a comment under the
    brand's post that names it stays in that post's thread; the brand naming itself is not
    a message; the next pulls store nothing twice, and what follows the answer joins it."""
    brand = await desk.brand()
    channel, post = await desk.post(brand)
    mention = desk.net.mention(f"Bravo @{BRAND} pour le défilé !", author="lea")
    desk.net.say(post, f"@{BRAND} la taille 38 existe ?", author="tom")
    desk.net.mention(f"Merci à tous, signé @{BRAND}", author=BRAND)

    items = await desk.collect(brand, 2)
    assert len(items) == 2
    praise = by_text(items, f"Bravo @{BRAND} pour le défilé !")
    question = by_text(items, f"@{BRAND} la taille 38 existe ?")
    opened = await desk.get(f"/inbox/threads/{praise['thread_id']}")
    assert (opened["subject"], opened["post_id"], opened["publication_id"]) == (
        "mention",
        mention,
        None,
    )
    assert opened["title"] == f"Bravo @{BRAND} pour le défilé !"
    assert [m["network_id"] for m in opened["messages"]] == [mention]
    under_post = await desk.get(f"/inbox/threads/{question['thread_id']}")
    assert (under_post["subject"], under_post["post_id"]) == ("post", post)

    answer = await desk.answer(praise["id"], text="Merci Léa !")
    assert answer.status_code == 202, answer.text
    await desk.answered(answer.json()["id"])
    (reply,) = desk.net.replies("Merci Léa !")
    assert (reply["post_id"], reply["in_reply_to"]) == (mention, mention)

    # Lea answers the brand under her post; the next pull adds it to her thread, once.
    desk.net.say(mention, "Avec plaisir", author="lea", parent=reply["id"])
    listings = desk.net.listings
    await desk.due_now()
    page = await desk.wait(
        lambda: desk.get(f"/inbox/messages?brand_id={brand}"),
        lambda p: len(p["items"]) >= 3 and desk.net.listings > listings,
    )
    await desk.due_now()
    await desk.wait(
        lambda: desk.get(f"/inbox/messages?brand_id={brand}"),
        lambda _: desk.net.listings > listings + 2,
    )
    page = await desk.get(f"/inbox/messages?brand_id={brand}")
    assert sorted(m["text"] for m in page["items"]) == sorted(
        ["Avec plaisir", f"Bravo @{BRAND} pour le défilé !", f"@{BRAND} la taille 38 existe ?"]
    )
    thread = await desk.get(f"/inbox/threads/{praise['thread_id']}")
    followed = by_text(thread["messages"], "Avec plaisir")
    assert followed["parent_answer_id"] == answer.json()["id"]
    assert channel
