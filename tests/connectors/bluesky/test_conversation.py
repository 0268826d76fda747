"""Bluesky comments, metrics and hidden replies: AppView views the PDS forwards (conftest.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agency.connector import (
    AccountMetrics,
    Capability,
    Comment,
    Post,
    Refused,
)
from agency_connectors.bluesky import BlueskyConnector
from agency_connectors.bluesky.threadgate import MAX_HIDDEN, with_reply
from tests.connectors.bluesky.helpers import (
    POST,
    connector_for,
    mention_on_pds,
    stamp,
    strong_ref,
)
from tests.connectors.bluesky.helpers import reply_on_pds as _reply
from tests.support.fakes.bsky_appview import FakeAppView
from tests.support.pds import (
    PdsAccount,
    PdsServer,
)

# -- comments, metrics and hidden replies: AppView views through the PDS -------------------------


@pytest.fixture
async def conversation(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    bob: PdsAccount,
    carol: PdsAccount,
) -> dict[str, dict[str, str]]:
    """Alice's post; bob answers it (two hours ago), carol answers bob, alice answers carol."""
    published = await connector.publish(Post(text=f"What should we bake? {uuid.uuid4().hex[:6]}"))
    post = await strong_ref(http, pds, published.post_id)
    bob_asks = _reply(pds, bob, "Croissants!", post, post, minutes_ago=120)
    carol_agrees = _reply(pds, carol, "Yes, with almonds", post, bob_asks)
    ours = await connector.reply(
        Comment(comment_id=carol_agrees["uri"], post_id=post["uri"], text=""), "Noted!"
    )
    return {"post": post, "bob": bob_asks, "carol": carol_agrees, "alice": {"uri": ours.comment_id}}


async def test_comments_are_the_replies_of_the_thread_nested_ones_too(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    bob: PdsAccount,
    carol: PdsAccount,
    alice: PdsAccount,
) -> None:
    post = conversation["post"]["uri"]
    comments = await connector.comments(post)

    assert [(c.comment_id, c.parent_id) for c in comments] == [
        (conversation["bob"]["uri"], post),
        (conversation["carol"]["uri"], conversation["bob"]["uri"]),
        (conversation["alice"]["uri"], conversation["carol"]["uri"]),
    ]
    assert [(c.author_id, c.author_name, c.text) for c in comments] == [
        (bob.did, bob.handle, "Croissants!"),  # no profile record: the handle
        (carol.did, "Carol", "Yes, with almonds"),
        (alice.did, "Alice at the Agency", "Noted!"),
    ]
    assert all(c.post_id == post and not c.hidden for c in comments)
    created = comments[0].created_at
    assert created is not None
    assert abs(created - (datetime.now(UTC) - timedelta(hours=2))) < timedelta(minutes=1)


async def test_mentions_are_posts_of_others_naming_the_account(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    appview: FakeAppView,
    alice: PdsAccount,
    bob: PdsAccount,
    carol: PdsAccount,
    pds: PdsServer,
) -> None:
    """Carol names alice in a post of her own: a mention, the root of its conversation. Bob's
    reply to alice's post is no mention (it is read in that post's thread); alice naming
    herself is none either; an older mention is left out by ``since``."""
    tag = uuid.uuid4().hex[:6]
    old = mention_on_pds(pds, bob, alice, f"Old news {tag}", minutes_ago=180)
    named = mention_on_pds(pds, carol, alice, f"Best bakery in town {tag}")
    mention_on_pds(pds, alice, alice, f"Signed {tag}")

    found = [m for m in await connector.mentions() if tag in m.text]
    assert [m.comment_id for m in found] == [named["uri"], old["uri"]]
    [carols] = [m for m in found if m.comment_id == named["uri"]]
    assert (carols.post_id, carols.parent_id) == (named["uri"], None)
    assert (carols.author_id, carols.author_name) == (carol.did, "Carol")
    assert carols.text == f"Best bakery in town {tag} @{alice.handle}"
    assert conversation["bob"]["uri"] not in {m.comment_id for m in await connector.mentions()}
    recent = await connector.mentions(datetime.now(UTC) - timedelta(hours=1))
    assert named["uri"] in {m.comment_id for m in recent}
    assert old["uri"] not in {m.comment_id for m in recent}
    seen = [s for s in appview.seen if s.nsid == "app.bsky.notification.listNotifications"]
    assert seen and seen[-1].params["reasons"] == ["mention"]
    assert seen[-1].claims["iss"] == alice.did

    # An answer to the mention is a reply whose root and parent are the mention.
    answer = await connector.reply(carols, "Thank you, Carol!")
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.get(
            f"{pds.url}/xrpc/com.atproto.repo.getRecord",
            params={
                "repo": alice.did,
                "collection": POST,
                "rkey": answer.comment_id.split("/")[-1],
            },
        )
    assert reply.json()["value"]["reply"] == {"root": named, "parent": named}


async def test_comments_since_leave_out_older_replies(
    connector: BlueskyConnector, conversation: dict[str, dict[str, str]]
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    recent = await connector.comments(conversation["post"]["uri"], since=since)
    assert [c.comment_id for c in recent] == [
        conversation["carol"]["uri"],
        conversation["alice"]["uri"],
    ]


async def test_the_pds_forwards_the_query_to_the_appview_with_service_auth(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    appview: FakeAppView,
    alice: PdsAccount,
) -> None:
    await connector.comments(conversation["post"]["uri"])

    seen = appview.seen[-1]  # the fake verified the signature with alice's key from the PLC
    assert seen.nsid == "app.bsky.feed.getPostThread"
    assert seen.params["uri"] == [conversation["post"]["uri"]]
    assert seen.claims["iss"] == alice.did
    assert (seen.claims["aud"], seen.claims["lxm"]) == (appview.did, seen.nsid)
    assert seen.token != connector.credentials.access_token  # the PDS's token, not ours


async def test_another_appview_is_named_in_the_proxy_header(
    connector: BlueskyConnector, conversation: dict[str, dict[str, str]], appview: FakeAppView
) -> None:
    forwarded = len(appview.seen)
    connector.appview = "did:plc:nobodyhereatall2345abcd#bsky_appview"  # not in the directory
    with pytest.raises(Refused, match="resolve proxy did"):
        await connector.comments(conversation["post"]["uri"])
    assert len(appview.seen) == forwarded


async def test_comments_of_a_deleted_post_are_refused(
    connector: BlueskyConnector, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    await connector.delete(published.post_id)
    with pytest.raises(Refused, match="not show this post"):
        await connector.comments(published.post_id)
    with pytest.raises(Refused, match="not show this post"):
        await connector.post_metrics(published.post_id)


async def test_post_metrics_count_likes_reposts_replies_and_quotes_of_other_accounts(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    pds: PdsServer,
    bob: PdsAccount,
    carol: PdsAccount,
) -> None:
    post = conversation["post"]
    for account in (bob, carol):
        like = {"$type": "app.bsky.feed.like", "subject": post, "createdAt": stamp()}
        pds.create_record(account, "app.bsky.feed.like", like)
    repost = {"$type": "app.bsky.feed.repost", "subject": post, "createdAt": stamp()}
    pds.create_record(bob, "app.bsky.feed.repost", repost)
    quote = {
        "$type": POST,
        "text": "Look at this",
        "createdAt": stamp(),
        "embed": {"$type": "app.bsky.embed.record", "record": post},
    }
    pds.create_record(carol, POST, quote)

    metrics = await connector.post_metrics(post["uri"])
    assert (metrics.likes, metrics.shares, metrics.comments) == (2, 1, 1)  # bob's direct reply
    assert metrics.raw["quoteCount"] == 1
    assert (metrics.impressions, metrics.reach, metrics.clicks) == (None, None, None)


async def test_account_metrics_count_followers_follows_and_posts(
    connector: BlueskyConnector,
    pds: PdsServer,
    alice: PdsAccount,
    bob: PdsAccount,
    carol: PdsAccount,
) -> None:
    for account in (bob, carol):
        follow = {"$type": "app.bsky.graph.follow", "subject": alice.did, "createdAt": stamp()}
        pds.create_record(account, "app.bsky.graph.follow", follow)
    follow = {"$type": "app.bsky.graph.follow", "subject": bob.did, "createdAt": stamp()}
    pds.create_record(alice, "app.bsky.graph.follow", follow)
    before = await connector.account_metrics()
    await connector.publish(Post(text="One more for the count"))

    metrics = await connector.account_metrics()
    assert before.posts  # every post the tests published so far
    posts = before.posts + 1
    assert metrics == AccountMetrics(
        followers=2,
        following=1,
        posts=posts,
        raw={"followersCount": 2, "followsCount": 1, "postsCount": posts},
    )


async def _gate(http: httpx.AsyncClient, pds: PdsServer, post_uri: str) -> dict[str, Any] | None:
    """The thread gate of a post as the PDS holds it (``uri``, ``cid``, ``value``)."""
    repo, _, rkey = post_uri.removeprefix("at://").split("/")
    answer = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": "app.bsky.feed.threadgate", "rkey": rkey},
    )
    if answer.status_code == 400:
        return None
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


async def test_hiding_a_reply_writes_the_thread_gate_and_comments_show_it_hidden(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    conversation: dict[str, dict[str, str]],
) -> None:
    post = conversation["post"]["uri"]
    bob_says = Comment(comment_id=conversation["bob"]["uri"], post_id=post, text="")
    await connector.hide_comment(bob_says)

    gate = await _gate(http, pds, post)
    assert gate is not None  # the PDS validated it against app.bsky.feed.threadgate
    assert gate["value"]["post"] == post
    assert gate["value"]["hiddenReplies"] == [bob_says.comment_id]
    assert "allow" not in gate["value"]  # no rule: everyone may still reply
    comments = {c.comment_id: c.hidden for c in await connector.comments(post)}
    assert comments == {
        conversation["bob"]["uri"]: True,
        conversation["carol"]["uri"]: False,
        conversation["alice"]["uri"]: False,
    }

    await connector.hide_comment(bob_says)  # twice: nothing written
    again = await _gate(http, pds, post)
    assert again is not None and again["cid"] == gate["cid"]

    await connector.hide_comment(bob_says, hidden=False)
    shown = await _gate(http, pds, post)
    assert shown is not None and shown["value"]["hiddenReplies"] == []
    assert not any(c.hidden for c in await connector.comments(post))


async def test_hiding_keeps_the_reply_rules_and_replies_hidden_meanwhile(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    alice: PdsAccount,
    conversation: dict[str, dict[str, str]],
) -> None:
    post = conversation["post"]["uri"]
    rkey = post.rsplit("/", 1)[1]
    mentioned = {"$type": "app.bsky.feed.threadgate#mentionRule"}
    gate = {"$type": "app.bsky.feed.threadgate", "post": post, "createdAt": stamp()}
    pds.put_record(alice, "app.bsky.feed.threadgate", rkey, {**gate, "allow": [mentioned]})
    sneaked = False

    async def meanwhile(request: httpx.Request) -> None:
        # Between our read of the gate and our write, someone hides carol's reply.
        nonlocal sneaked
        if request.url.path.endswith("putRecord") and not sneaked:
            sneaked = True
            hidden = {"allow": [mentioned], "hiddenReplies": [conversation["carol"]["uri"]]}
            pds.put_record(alice, "app.bsky.feed.threadgate", rkey, {**gate, **hidden})

    async with httpx.AsyncClient(event_hooks={"request": [meanwhile]}) as watched:
        racing = connector_for(watched, pds, connector.credentials)
        await racing.hide_comment(Comment(conversation["bob"]["uri"], post, ""))

    stored = await _gate(http, pds, post)
    assert sneaked and stored is not None
    assert stored["value"]["allow"] == [mentioned]
    assert stored["value"]["hiddenReplies"] == [
        conversation["carol"]["uri"],
        conversation["bob"]["uri"],
    ]


async def test_only_replies_in_our_own_threads_can_be_hidden(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    bob: PdsAccount,
    carol: PdsAccount,
    conversation: dict[str, dict[str, str]],
) -> None:
    theirs = pds.create_record(bob, POST, {"$type": POST, "text": "Bob's", "createdAt": stamp()})
    under_theirs = _reply(pds, carol, "Carol answers Bob", theirs, theirs)
    with pytest.raises(Refused, match="another account"):
        await connector.hide_comment(Comment(under_theirs["uri"], theirs["uri"], ""))
    assert await _gate(http, pds, theirs["uri"]) is None

    post = conversation["post"]["uri"]
    with pytest.raises(Refused, match="not a reply"):
        await connector.hide_comment(Comment(post, post, ""))


def test_a_thread_gate_hides_at_most_300_replies() -> None:
    full = {"hiddenReplies": [f"at://did:plc:x/{POST}/{n}" for n in range(MAX_HIDDEN)]}
    with pytest.raises(Refused, match="at most 300"):
        with_reply(full, "at://post", "at://one-more", True, stamp())
    assert with_reply(full, "at://post", full["hiddenReplies"][0], True, stamp()) is None


def test_comments_and_metrics_are_declared() -> None:
    assert {
        Capability.COMMENTS,
        Capability.POST_METRICS,
        Capability.ACCOUNT_METRICS,
        Capability.HIDE_COMMENT,
    } <= BlueskyConnector.capabilities
