"""The inbox against a real network: a Bluesky PDS (the reference @atproto/pds, see
tests/support/pds.py) and its comments read through the AppView the PDS forwards to
(tests/support/fakes/bsky_appview.py, answering from the PDS's own repositories).

The brand's account is connected through our API and its post published by the real worker;
another account replies to it by writing a record straight to the PDS. The comment is
collected by the scheduler's claim and a Dramatiq worker, answered through the API, and the
answer is read back from the PDS without our code: one record, in the right thread (root: the
brand's post, parent: the comment), however many times the job runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from agency.config import ConnectorSettings, MediaSettings, NetworkSettings
from agency.connector.registry import installed
from agency.kernel.runtime import Runtime
from tests.conftest import PostgresServer, RedisServer, Tenant, make_settings
from tests.connectors.bluesky.helpers import (
    mention_on_pds,
    pds_behind,
    serving_appview,
    strong_ref,
)
from tests.connectors.bluesky.helpers import reply_on_pds as _reply
from tests.helpers import create_brand
from tests.support.connect_flow import connect_with_app_password
from tests.support.pds import PdsAccount, PdsServer
from tests.support.publishing import (
    Inbox,
    published_now,
    pulled_again,
    running_worker,
    serving,
)

pytestmark = pytest.mark.slow

POST = "app.bsky.feed.post"


@pytest.fixture(scope="module")
def pds() -> Iterator[PdsServer]:
    with serving_appview() as appview, pds_behind(appview) as server:
        yield server


@pytest.fixture
async def inbox(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    pds: PdsServer,
    tenant_a: Tenant,
    tmp_path: Path,
) -> AsyncIterator[Inbox]:
    settings = make_settings(pg, redis_server.url)
    settings.media = MediaSettings(storage="local", local_path=str(tmp_path / "media"))
    settings.connectors = ConnectorSettings(networks={"bluesky": NetworkSettings(base_url=pds.url)})
    async with serving(runtime, settings, installed()) as (client, test_runtime):
        with running_worker(test_runtime):
            yield Inbox(client, test_runtime, tenant_a)


async def _replies_of(
    http: httpx.AsyncClient, pds: PdsServer, account: PdsAccount, parent: str
) -> list[dict[str, Any]]:
    """The account's posts on the PDS that reply to ``parent``, read without our code."""
    answer = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": account.did, "collection": POST, "limit": "100"},
    )
    answer.raise_for_status()
    return [
        {"uri": r["uri"], **r["value"]}
        for r in answer.json()["records"]
        if r["value"].get("reply", {}).get("parent", {}).get("uri") == parent
    ]


async def test_a_bluesky_comment_is_collected_and_answered_once_in_its_thread(
    inbox: Inbox, pds: PdsServer
) -> None:
    async with httpx.AsyncClient(timeout=30) as outside:
        brand, brand_account, reader, post, comment, message = await _commented(
            inbox, pds, outside, "Quand arrivent les tailles XXL ?"
        )
        assert message["kind"]["value"] == "question"

        answered = await inbox.client.post(
            f"/inbox/messages/{message['id']}/answers",
            json={"text": "En boutique dès lundi."},
            headers=inbox.tenant.headers,
        )
        assert answered.status_code == 202, answered.text
        answer_id = answered.json()["id"]
        # The same job a second time, as a duplicate message would run it.
        send = inbox.runtime.broker.get_actor("inbox.send_answer")
        send.send(str(inbox.tenant.agency_id), answer_id)
        sent = await inbox.until(f"/inbox/answers/{answer_id}", lambda a: a["status"] == "sent")
        send.send(str(inbox.tenant.agency_id), answer_id)  # and once more after it was sent
        await inbox.until(f"/inbox/answers/{answer_id}", lambda a: a["status"] == "sent")

        replies = await _replies_of(outside, pds, brand_account, comment["uri"])
        assert [r["text"] for r in replies] == ["En boutique dès lundi."]
        [reply] = replies
        assert reply["reply"]["root"] == post
        assert reply["reply"]["parent"] == {"uri": comment["uri"], "cid": comment["cid"]}
        assert sent["reply_id"] == reply["uri"]
        assert [(a["kind"], a["outcome"]) for a in sent["attempts"]] == [("send", "sent")]

        # The brand's answer, read back by the next pull, is no message of the inbox.
        again = await inbox.until(
            f"/inbox/messages/{message['id']}", lambda m: m["status"] == "answered"
        )
        assert again["response_seconds"] is not None
        await pulled_again(inbox.runtime)
        assert len((await inbox.get(f"/inbox/messages?brand_id={brand}"))["items"]) == 1

        # Replies to a reply: one to the comment, one to the brand's answer. The thread
        # says who answers whom.
        other = pds.create_account(f"ot{uuid.uuid4().hex[:6]}")
        to_comment = _reply(pds, other, "Moi aussi je les attends.", post, comment)
        to_answer = _reply(
            pds, reader, "Merci !", post, await strong_ref(outside, pds, reply["uri"])
        )
    await pulled_again(inbox.runtime)
    thread = await inbox.get(f"/inbox/threads/{message['thread_id']}")
    shape = {
        m["network_id"]: (m["parent_id"], m["parent_message_id"], m["parent_answer_id"])
        for m in thread["messages"]
    }
    assert shape == {
        comment["uri"]: (post["uri"], None, None),
        to_comment["uri"]: (comment["uri"], message["id"], None),
        to_answer["uri"]: (reply["uri"], None, answer_id),
    }
    assert [(a["id"], a["message_id"]) for a in thread["answers"]] == [(answer_id, message["id"])]


class Commented(NamedTuple):
    brand_id: str
    brand_account: PdsAccount
    reader: PdsAccount
    post: dict[str, str]
    comment: dict[str, str]
    message: dict[str, Any]


async def _commented(
    inbox: Inbox, pds: PdsServer, outside: httpx.AsyncClient, text: str, **brand: Any
) -> Commented:
    """A brand whose Bluesky account is connected through the API and whose post the real
    worker published; another account's reply ``text`` to it, written on the PDS and
    collected by the real worker."""
    brand_account = pds.create_account(f"br{uuid.uuid4().hex[:6]}")
    reader = pds.create_account(f"rd{uuid.uuid4().hex[:6]}")
    brand_id = await create_brand(inbox.client, inbox.tenant, **brand)
    connected = await connect_with_app_password(
        inbox.client, inbox.tenant, brand_id, brand_account.handle, brand_account.app_password
    )
    assert connected.status_code == 201, connected.text
    [channel] = connected.json()["channel_ids"]
    done = await published_now(
        inbox.client,
        inbox.runtime,
        inbox.tenant.headers,
        brand_id,
        channel,
        "Les manteaux.",
        "Hiver",
    )
    [variant] = done["variants"]
    assert variant["status"] == "published", variant

    # Someone else answers the brand's post, on the PDS itself.
    post = await strong_ref(outside, pds, variant["post_id"])
    comment = _reply(pds, reader, text, post, post)
    # The real worker collects it (the scheduler's claim, then inbox.pull).
    await pulled_again(inbox.runtime)
    page = await inbox.until(f"/inbox/messages?brand_id={brand_id}", lambda p: len(p["items"]) >= 1)
    [message] = page["items"]
    assert message["network_id"] == comment["uri"]
    assert message["author_id"] == reader.did
    return Commented(brand_id, brand_account, reader, post, comment, message)


async def test_hiding_a_bluesky_reply_writes_the_thread_gate_and_deleting_it_is_refused(
    inbox: Inbox, pds: PdsServer
) -> None:
    """Moderation through the worker on the real PDS: hiding a reply under the brand's post
    writes the root's thread gate (the PDS validates the record); deleting another account's
    reply is refused by the network's rules and recorded as such, nothing deleted."""
    charter = {"clauses": [{"number": 2, "text": "Pas d'insultes."}]}
    async with httpx.AsyncClient(timeout=30) as outside:
        _, brand_account, _, post, comment, message = await _commented(
            inbox, pds, outside, "Vous êtes des abrutis", community_charter=charter
        )
        url = f"/inbox/messages/{message['id']}"
        hidden = await inbox.client.post(
            f"{url}/hide", json={"clause": 2}, headers=inbox.tenant.headers
        )
        assert hidden.status_code == 202, hidden.text
        done = await inbox.until(url, lambda m: (m["moderation"] or {}).get("status") == "done")
        assert done["hidden"] is True
        gate = await outside.get(
            f"{pds.url}/xrpc/com.atproto.repo.getRecord",
            params={
                "repo": brand_account.did,
                "collection": "app.bsky.feed.threadgate",
                "rkey": post["uri"].rsplit("/", 1)[1],
            },
        )
        assert gate.status_code == 200, gate.text
        assert gate.json()["value"]["hiddenReplies"] == [comment["uri"]]

        deleted = await inbox.client.post(
            f"{url}/delete", json={"clause": 2}, headers=inbox.tenant.headers
        )
        assert deleted.status_code == 202, deleted.text
        refused = await inbox.until(
            url, lambda m: (m["moderation"] or {}).get("status") == "refused"
        )
        assert refused["deleted"] is False
        assert "another Bluesky account" in refused["moderation"]["detail"]
        still = await strong_ref(outside, pds, comment["uri"])
        assert still == comment


async def test_a_bluesky_mention_opens_its_thread_and_is_answered_below_it(
    inbox: Inbox, pds: PdsServer
) -> None:
    """Someone names the brand's account in a post of their own: the next pull opens a
    thread for it, and the answer is one reply on the PDS whose root and parent are it."""
    brand_account = pds.create_account(f"br{uuid.uuid4().hex[:6]}")
    fan = pds.create_account(f"fn{uuid.uuid4().hex[:6]}")
    brand = await create_brand(inbox.client, inbox.tenant)
    connected = await connect_with_app_password(
        inbox.client, inbox.tenant, brand, brand_account.handle, brand_account.app_password
    )
    assert connected.status_code == 201, connected.text
    mention = mention_on_pds(pds, fan, brand_account, "Le plus beau défilé de la saison")

    await pulled_again(inbox.runtime)
    page = await inbox.until(f"/inbox/messages?brand_id={brand}", lambda p: len(p["items"]) >= 1)
    [message] = page["items"]
    assert (message["network_id"], message["author_id"]) == (mention["uri"], fan.did)
    thread = await inbox.get(f"/inbox/threads/{message['thread_id']}")
    assert (thread["subject"], thread["post_id"]) == ("mention", mention["uri"])

    answered = await inbox.client.post(
        f"/inbox/messages/{message['id']}/answers",
        json={"text": "Merci, à très vite !"},
        headers=inbox.tenant.headers,
    )
    assert answered.status_code == 202, answered.text
    sent = await inbox.until(
        f"/inbox/answers/{answered.json()['id']}", lambda a: a["status"] == "sent"
    )
    async with httpx.AsyncClient(timeout=30) as outside:
        [reply] = await _replies_of(outside, pds, brand_account, mention["uri"])
    assert reply["text"] == "Merci, à très vite !"
    assert reply["reply"] == {"root": mention, "parent": mention}
    assert sent["reply_id"] == reply["uri"]

    # Pulled again: the same mention opens no second thread, the answer is no message.
    await pulled_again(inbox.runtime)
    assert len((await inbox.get(f"/inbox/messages?brand_id={brand}"))["items"]) == 1
