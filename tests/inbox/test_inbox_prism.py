"""The inbox against Prism serving Mastodon 4.7's description, through our API and a real
Dramatiq worker: the account connected as a brand connects it, a post published by the
worker, the comment below it (the status's context) and a mention (the notifications) pulled
by the scheduler's claim and the worker, each answered through the API and sent by the worker
as one ``POST /api/v1/statuses``, held against the description by Prism (a request it
refuses is listed in ``sl-violations`` and fails the test).

Prism answers from the description's schemas, where every identifier is ``"string"`` and
every date 2019's: the brand's account, its post and every status would be one, and the post
too old to follow. The created status, the context and the notifications are given examples
instead (the brand's post written now; a comment by another account, in reply to it; a
mention by a third), shaped as the description's Status and Notification entities. Each
status created is that one example, the answers too (their id is the post's). Prism cannot count
what it received: the runtime keeps every answer the networks gave (``WatchedRuntime``), so
"sent once" is counted on the requests our worker actually made.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.app import create_app
from agency.config import ConnectorSettings, MediaSettings, OutboundSettings, ServerSettings
from agency.connector.registry import installed
from agency.kernel.runtime import Runtime
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.connectors.conftest import MASTODON_TOKEN, PRISM_START_SECONDS
from tests.helpers import create_brand
from tests.support.connect_flow import PUBLIC_URL, callback_uri, connect_with_consent
from tests.support.prism import IDENTIFIER_EXAMPLE, PrismServer, request_violations
from tests.support.publishing import (
    Inbox,
    jobs_see,
    published_now,
    pulled_again,
    running_worker,
)
from tests.support.testnet import TestNetState, build_testnet, network_settings
from tests.support.watched_runtime import WatchedRuntime

pytestmark = pytest.mark.slow

POST_ID = "string"  # what Prism samples for every id: the brand's post and account
COMMENT_ID = "113400000000000001"
MENTION_ID = "113400000000000002"
WRITTEN = datetime.now(UTC) - timedelta(minutes=5)


def _account(account_id: str, username: str) -> dict[str, Any]:
    """An Account entity as the description gives it (its required properties)."""
    return {
        "id": account_id,
        "username": username,
        "acct": f"{username}@example.social",
        "url": f"https://example.social/@{username}",
        "uri": f"https://example.social/users/{username}",
        "display_name": username.title(),
        "note": "",
        "avatar": "https://example.social/avatar.png",
        "avatar_static": "https://example.social/avatar.png",
        "header": "https://example.social/header.png",
        "header_static": "https://example.social/header.png",
        "locked": False,
        "fields": [],
        "emojis": [],
        "bot": False,
        "group": False,
        "discoverable": True,
        "indexable": True,
        "created_at": "2024-01-01T00:00:00.000Z",
        "last_status_at": "2026-12-01",
        "statuses_count": 12,
        "followers_count": 3,
        "following_count": 4,
    }


def _status(
    status_id: str, author: dict[str, Any], html: str, parent: str | None
) -> dict[str, Any]:
    """A Status entity as the description gives it (its required properties)."""
    return {
        "id": status_id,
        "uri": f"https://example.social/users/{author['username']}/statuses/{status_id}",
        "url": f"https://example.social/@{author['username']}/{status_id}",
        "created_at": WRITTEN.isoformat().replace("+00:00", "Z"),
        "account": author,
        "content": html,
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "quotes_count": 0,
        "in_reply_to_id": parent,
        "in_reply_to_account_id": POST_ID if parent else None,
        "reblog": None,
        "poll": None,
        "card": None,
        "language": "fr",
        "text": None,
        "edited_at": None,
    }


BRAND = _account(POST_ID, "maison")  # as verify_credentials samples it: id "string"
ANA = _account("41", "ana")
LEO = _account("42", "leo")
# Every status created (the post, then each answer) is this one: Prism answers one example.
CREATED = _status(POST_ID, BRAND, "<p>La vitrine.</p>", None)
COMMENT = _status(COMMENT_ID, ANA, "<p>Vous livrez à Lyon ?</p>", POST_ID)
MENTION = _status(MENTION_ID, LEO, "<p>Superbe vitrine chez <span>@maison</span> !</p>", None)
ZOE = _account("43", "zoe")
PRIVATE_ID = "113400000000000003"
PRIVATE = {
    **_status(PRIVATE_ID, ZOE, "<p>@maison Ma commande 1234 n'est pas arrivée.</p>", None),
    "visibility": "direct",
}
NOTIFICATIONS = [
    {
        "id": f"900{i}",
        "type": "mention",
        "group_key": f"ungrouped-900{i}",
        "created_at": COMMENT["created_at"],
        "account": status["account"],
        "status": status,
    }
    # Mastodon notifies a private message as a mention too: it must stay private.
    for i, status in enumerate((MENTION, PRIVATE))
]
CONVERSATION = {"id": "418450", "unread": True, "accounts": [ZOE], "last_status": PRIVATE}


@pytest.fixture(scope="module")
def prism_inbox() -> Iterator[str]:
    """Prism serving Mastodon's description, with the thread's comment, a mention and a
    private message."""
    statuses = ("post", "/api/v1/statuses")
    answers = (
        ("post", "/oauth/token", "200", {"Token200Example": MASTODON_TOKEN}),
        ("post", "/api/v1/statuses", "200", {"Created": CREATED}),
        (
            "get",
            "/api/v1/statuses/{id}/context",
            "200",
            {"Commented": {"ancestors": [], "descendants": [COMMENT]}},
        ),
        ("get", "/api/v1/notifications", "200", {"Mentioned": NOTIFICATIONS}),
        ("get", "/api/v1/conversations", "200", {"Written": [CONVERSATION]}),
    )
    with PrismServer(
        "mastodon-4.7.json", body_any_of=(statuses,), sampled_answers=True, answer_examples=answers
    ) as server:
        server.start(timeout=PRISM_START_SECONDS)
        yield server.url


# X: the brand's user and its post are Prism's one numeric id; a reply and a mention by
# others, as recent search and the mentions timeline give them.
X_POST_ID = IDENTIFIER_EXAMPLE
X_REPLY_ID = "1850000000000000001"
X_MENTION_ID = "1850000000000000002"
X_FIELDS = {"created_at": COMMENT["created_at"], "edit_history_tweet_ids": []}
X_REPLY = {
    "id": X_REPLY_ID,
    "text": "@maison Vous livrez à Lyon ?",
    "author_id": "2244994945",
    "conversation_id": X_POST_ID,
    "referenced_tweets": [{"type": "replied_to", "id": X_POST_ID}],
    **X_FIELDS,
}
X_MENTION = {
    "id": X_MENTION_ID,
    "text": "Superbe vitrine chez @maison !",
    "author_id": "783214",
    "conversation_id": X_MENTION_ID,
    **X_FIELDS,
}


def _x_page(post: dict[str, Any], user_id: str, username: str) -> dict[str, Any]:
    users = [{"id": user_id, "username": username, "name": username.title()}]
    return {"data": [post], "includes": {"users": users}, "meta": {"result_count": 1}}


X_REPLIES = _x_page(X_REPLY, "2244994945", "ana")
X_MENTIONS = _x_page(X_MENTION, "783214", "leo")


@pytest.fixture(scope="module")
def prism_x_inbox() -> Iterator[str]:
    """Prism serving X API v2's description, with a reply to the post and a mention."""
    answers = (
        (
            "get",
            "/2/tweets/search/recent",
            "200",
            {"Replied": _x_page(X_REPLY, "2244994945", "ana")},
        ),
        (
            "get",
            "/2/users/{id}/mentions",
            "200",
            {"Mentioned": _x_page(X_MENTION, "783214", "leo")},
        ),
    )
    with PrismServer("x-api-v2.json", numeric_ids=True, answer_examples=answers) as server:
        server.start(timeout=PRISM_START_SECONDS)
        yield server.url


@pytest.fixture(scope="module")
def x_oauth() -> Iterator[str]:
    """Our strict OAuth server standing in for X's authorization server."""
    state = TestNetState(redirect_uris={callback_uri("x")})
    with LiveServer(build_testnet(state)) as server:
        yield server.url


class Desk(Inbox):
    runtime: WatchedRuntime

    def replies(self, in_reply_to: str) -> list[httpx.Request]:
        """The statuses our worker posted in reply to ``in_reply_to``."""
        return [
            r
            for r in self.runtime.sent("POST", "/api/v1/statuses")
            if json.loads(r.content).get("in_reply_to_id") == in_reply_to
        ]

    def x_replies(self, in_reply_to: str) -> list[httpx.Request]:
        """The posts our worker sent to X in reply to ``in_reply_to``."""
        return [
            r
            for r in self.runtime.sent("POST", "/2/tweets")
            if json.loads(r.content).get("reply", {}).get("in_reply_to_tweet_id") == in_reply_to
        ]


@pytest.fixture
async def desk(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    prism_inbox: str,
    prism_x_inbox: str,
    x_oauth: str,
    tenant_a: Tenant,
    tmp_path: Path,
) -> AsyncIterator[Desk]:
    settings = make_settings(pg, redis_server.url)
    settings.server = ServerSettings(public_url=PUBLIC_URL)
    settings.media = MediaSettings(storage="local", local_path=str(tmp_path / "media"))
    # The account's server, on loopback: the operator allows it by name.
    settings.outbound = OutboundSettings(allowed_hosts=[urlsplit(prism_inbox).netloc])
    settings.connectors = ConnectorSettings(
        networks={"x": network_settings(x_oauth, prism_x_inbox)}
    )
    watched = WatchedRuntime(settings, runtime.broker, connectors=installed())
    transport = httpx.ASGITransport(app=create_app(settings, watched))
    try:
        with jobs_see(watched), running_worker(watched):
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
                yield Desk(client, watched, tenant_a)
    finally:
        await watched.dispose_current_loop()


async def _connected_mastodon(desk: Desk, brand_id: str, server_url: str) -> str:
    """The brand's Mastodon account, connected through the API (the account's server
    registers our app): the channel's id."""
    started = await desk.client.post(
        f"/brands/{brand_id}/connections",
        json={"network": "mastodon", "server_url": server_url},
        headers=desk.tenant.headers,
    )
    assert started.status_code == 201, started.text
    state = parse_qs(urlsplit(started.json()["authorization_url"]).query)["state"][0]
    done = await desk.client.get(
        "/oauth/callback/mastodon", params={"code": "granted", "state": state}
    )
    assert done.status_code == 200, done.text
    [channel] = done.json()["channel_ids"]
    return str(channel)


async def _published(desk: Desk, brand_id: str, channel: str) -> str:
    """A post the worker published on the channel: its id at the network."""
    published = await published_now(
        desk.client, desk.runtime, desk.tenant.headers, brand_id, channel, "La vitrine.", "Vitrine"
    )
    [variant] = published["variants"]
    assert variant["status"] == "published", variant
    return str(variant["post_id"])


async def _collected(desk: Desk, brand_id: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The worker's pull, then the brand's messages by network id (these ``ids``)."""
    await pulled_again(desk.runtime)
    page = await desk.until(
        f"/inbox/messages?brand_id={brand_id}", lambda p: len(p["items"]) >= len(ids)
    )
    by_id = {m["network_id"]: m for m in page["items"]}
    assert set(by_id) == ids
    return by_id


async def _answered_once(desk: Desk, message: dict[str, Any], text: str) -> dict[str, Any]:
    """Answer through the API; the send job runs twice more (a duplicate message, then once
    after the answer was sent): the answer, sent."""
    answered = await desk.client.post(
        f"/inbox/messages/{message['id']}/answers",
        json={"text": text},
        headers=desk.tenant.headers,
    )
    assert answered.status_code == 202, answered.text
    answer_id = answered.json()["id"]
    send = desk.runtime.broker.get_actor("inbox.send_answer")
    send.send(str(desk.tenant.agency_id), answer_id)
    sent = await desk.until(f"/inbox/answers/{answer_id}", lambda a: a["status"] == "sent")
    send.send(str(desk.tenant.agency_id), answer_id)
    await desk.until(f"/inbox/answers/{answer_id}", lambda a: a["status"] == "sent")
    assert [(a["kind"], a["outcome"]) for a in sent["attempts"]] == [("send", "sent")]
    return sent


async def test_mastodon_comment_mention_and_private_message_collected_and_answered_once(
    desk: Desk, prism_inbox: str
) -> None:
    brand_id = await create_brand(desk.client, desk.tenant)
    channel = await _connected_mastodon(desk, brand_id, prism_inbox)
    assert await _published(desk, brand_id, channel) == POST_ID
    by_id = await _collected(desk, brand_id, {COMMENT_ID, MENTION_ID, PRIVATE_ID})
    comment, mention, private = by_id[COMMENT_ID], by_id[MENTION_ID], by_id[PRIVATE_ID]
    # Read as the connector reads them: the status's context, the mention notifications.
    context = desk.runtime.sent("GET", f"/api/v1/statuses/{POST_ID}/context")[0]
    assert context.headers["Authorization"] == f"Bearer {MASTODON_TOKEN['access_token']}"
    notifications = desk.runtime.sent("GET", "/api/v1/notifications")
    assert notifications and parse_qs(notifications[0].url.query.decode())["types[]"] == ["mention"]
    assert (comment["author_id"], comment["author_name"]) == ("41", "ana@example.social")
    assert (comment["text"], comment["kind"]["value"]) == ("Vous livrez à Lyon ?", "question")
    assert comment["parent_id"] == POST_ID
    thread = await desk.get(f"/inbox/threads/{comment['thread_id']}")
    assert (thread["subject"], thread["post_id"]) == ("post", POST_ID)
    opened = await desk.get(f"/inbox/threads/{mention['thread_id']}")
    assert (opened["subject"], opened["post_id"]) == ("mention", MENTION_ID)

    sent = await _answered_once(desk, comment, "Oui, livraison en 48 h.")
    [reply] = desk.replies(COMMENT_ID)
    body = json.loads(reply.content)
    # Addressed to the comment's author (Mastodon notifies only those it mentions).
    assert body["status"] == "@ana@example.social Oui, livraison en 48 h."
    assert reply.headers["Idempotency-Key"] == f"agency-answer-{sent['id']}"
    assert str(reply.url).startswith(prism_inbox)
    assert sent["reply_id"] == POST_ID  # Prism's sampled id of the status it created

    sent = await _answered_once(desk, mention, "Merci Leo !")
    [reply] = desk.replies(MENTION_ID)
    assert json.loads(reply.content)["status"] == "@leo@example.social Merci Leo !"
    assert reply.headers["Idempotency-Key"] == f"agency-answer-{sent['id']}"

    # The private message: in its author's own thread, answered privately (a direct
    # status naming only them), never as a public mention.
    assert (private["private"], comment["private"], mention["private"]) == (True, False, False)
    assert (private["author_id"], private["text"]) == (
        "43",
        "@maison Ma commande 1234 n'est pas arrivée.",
    )
    person = await desk.get(f"/inbox/threads/{private['thread_id']}")
    assert (person["subject"], person["post_id"], person["title"]) == (
        "private",
        "person:43",
        "zoe@example.social",
    )
    assert [m["id"] for m in person["messages"]] == [private["id"]]
    sent = await _answered_once(desk, private, "Nous regardons votre commande.")
    [reply] = desk.replies(PRIVATE_ID)
    assert json.loads(reply.content) == {
        "status": "@zoe@example.social Nous regardons votre commande.",
        "in_reply_to_id": PRIVATE_ID,
        "visibility": "direct",
    }
    assert reply.headers["Idempotency-Key"] == f"agency-answer-{sent['id']}"
    assert desk.runtime.sent("GET", "/api/v1/conversations")

    for message in (comment, mention, private):
        answered = await desk.get(f"/inbox/messages/{message['id']}")
        assert answered["status"] == "answered" and answered["response_seconds"] is not None
    # Pulled again: nothing new, nothing twice.
    await pulled_again(desk.runtime)
    assert len((await desk.get(f"/inbox/messages?brand_id={brand_id}"))["items"]) == 3
    # Every request our code sent, the publish and the pulls included, is one the
    # description allows; and each answer went out once.
    violations = [request_violations(a) for a in desk.runtime.answers if request_violations(a)]
    assert violations == []
    assert len(desk.runtime.sent("POST", "/api/v1/statuses")) == 4  # the post, 3 answers


async def test_an_x_reply_and_mention_are_collected_and_answered_once(
    desk: Desk, prism_x_inbox: str
) -> None:
    """X takes no idempotency key: "once" rests on the attempt row committed before the
    call, which a second run of the job finds."""
    brand_id = await create_brand(desk.client, desk.tenant)
    channel, _ = await connect_with_consent(desk.client, desk.tenant, brand_id, "x")
    assert await _published(desk, brand_id, channel) == X_POST_ID
    by_id = await _collected(desk, brand_id, {X_REPLY_ID, X_MENTION_ID})
    reply, mention = by_id[X_REPLY_ID], by_id[X_MENTION_ID]
    # Read as the connector reads them: the post's conversation, the mentions timeline.
    search = desk.runtime.sent("GET", "/2/tweets/search/recent")[0]
    assert search.url.params["query"] == f"conversation_id:{X_POST_ID} is:reply"
    assert desk.runtime.sent("GET", f"/2/users/{X_POST_ID}/mentions")
    assert (reply["author_id"], reply["author_name"], reply["parent_id"]) == (
        "2244994945",
        "ana",
        X_POST_ID,
    )
    opened = await desk.get(f"/inbox/threads/{mention['thread_id']}")
    assert (opened["subject"], opened["post_id"]) == ("mention", X_MENTION_ID)

    sent = await _answered_once(desk, reply, "Oui, livraison en 48 h.")
    [call] = desk.x_replies(X_REPLY_ID)
    assert json.loads(call.content) == {
        "text": "Oui, livraison en 48 h.",
        "reply": {"in_reply_to_tweet_id": X_REPLY_ID},
    }
    assert sent["reply_id"] == X_POST_ID  # Prism's one id for every post it creates
    await _answered_once(desk, mention, "Merci !")
    assert len(desk.x_replies(X_MENTION_ID)) == 1

    await pulled_again(desk.runtime)
    assert len((await desk.get(f"/inbox/messages?brand_id={brand_id}"))["items"]) == 2
    violations = [request_violations(a) for a in desk.runtime.answers if request_violations(a)]
    assert violations == []
    assert len(desk.runtime.sent("POST", "/2/tweets")) == 3  # the post, two answers
