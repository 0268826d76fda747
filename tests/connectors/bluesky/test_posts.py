"""Bluesky posts against the real PDS (see conftest.py): the contract, records and facets,
text rules, finding, deleting, replies."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agency.connector import (
    Comment,
    Credentials,
    InvalidContent,
    Post,
    Refused,
)
from agency_connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.helpers import POST, image, strong_ref
from tests.connectors.contract import ConnectorContract
from tests.support.pds import (
    PdsAccount,
    PdsServer,
    faceted,
    png,
    record_of,
)


class TestBlueskyContract(ConnectorContract):
    connector_class = BlueskyConnector


# -- publishing --------------------------------------------------------------------------------


async def test_facets_point_at_utf8_bytes_of_text_with_emoji_and_accents(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    text = (
        "Café crème ☕ 👩🏽‍💻 à Noël avec @bob.test : https://example.com/menu?lang=fr "
        "#Crème #été2025 🎉 @nobody.test"
    )
    published = await connector.publish(Post(text=text, options={"langs": ["fr", "en"]}))

    record = await record_of(http, pds, published.post_id)
    assert record is not None
    assert record["text"] == text
    assert record["langs"] == ["fr", "en"]
    pointed = [(faceted(text, f), f["features"][0]) for f in record["facets"]]
    assert pointed == [
        ("@bob.test", {"$type": "app.bsky.richtext.facet#mention", "did": bob.did}),
        (
            "https://example.com/menu?lang=fr",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/menu?lang=fr"},
        ),
        ("#Crème", {"$type": "app.bsky.richtext.facet#tag", "tag": "Crème"}),
        ("#été2025", {"$type": "app.bsky.richtext.facet#tag", "tag": "été2025"}),
    ]  # @nobody.test has no account: it stays plain text
    # Character offsets would be wrong: "é", "☕" and the emoji take several bytes each.
    assert record["facets"][0]["index"]["byteStart"] != text.index("@bob.test")


async def test_a_hash_inside_a_link_is_not_a_second_facet(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer
) -> None:
    text = "Docs at https://example.com/guide#install, then #ship."
    published = await connector.publish(Post(text=text))
    record = await record_of(http, pds, published.post_id)
    assert record is not None
    assert [faceted(text, f) for f in record["facets"]] == [
        "https://example.com/guide#install",
        "#ship",
    ]


async def test_images_are_uploaded_as_blobs_and_embedded_with_alt_text(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    first, second = png(3, 2), png(5, 5)
    post = Post(
        text="Two pictures",
        media=(image(first, "A red band", 3, 2), image(second, "", 5, 5)),
        link="https://example.com/ignored-when-there-are-images",
    )
    published = await connector.publish(post)

    record = await record_of(http, pds, published.post_id)
    assert record is not None
    embed = record["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == ["A red band", ""]
    assert embed["images"][0]["aspectRatio"] == {"width": 3, "height": 2}
    for sent, item in zip((first, second), embed["images"], strict=True):
        blob = item["image"]
        assert (blob["mimeType"], blob["size"]) == ("image/png", len(sent))
        stored = await http.get(
            f"{pds.url}/xrpc/com.atproto.sync.getBlob",
            params={"did": alice.did, "cid": blob["ref"]["$link"]},
        )
        assert stored.status_code == 200
        assert stored.content == sent


async def test_a_blob_staged_ahead_is_embedded_by_the_post_without_a_new_upload(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    data = png(4, 3)
    staged = await connector.stage_media(image(data, "Staged", 4, 3))
    assert staged.expires_at <= datetime.now(UTC) + timedelta(minutes=5)
    blob = json.loads(staged.reference)
    # The post names the blob only: the file itself is no longer at hand.
    named = replace(image(data, "Staged", 4, 3), source=None, staged=staged.reference)
    published = await connector.publish(Post(text="Staged ahead", media=(named,)))

    record = await record_of(http, pds, published.post_id)
    assert record is not None
    [item] = record["embed"]["images"]
    assert item["image"]["ref"] == blob["ref"]
    stored = await http.get(
        f"{pds.url}/xrpc/com.atproto.sync.getBlob",
        params={"did": alice.did, "cid": blob["ref"]["$link"]},
    )
    assert stored.status_code == 200 and stored.content == data


async def test_a_link_without_images_becomes_a_link_card(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer
) -> None:
    post = Post(text="Our spring menu", link="https://example.com/spring", title="Spring menu")
    published = await connector.publish(post)
    record = await record_of(http, pds, published.post_id)
    assert record is not None
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://example.com/spring",
            "title": "Spring menu",
            "description": "",
        },
    }


async def test_published_url_is_the_post_page_on_bsky_app(
    connector: BlueskyConnector, alice: PdsAccount, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    rkey = published.post_id.rsplit("/", 1)[1]
    assert published.post_id == f"at://{alice.did}/{POST}/{rkey}"
    assert published.url == f"https://bsky.app/profile/{alice.handle}/post/{rkey}"
    assert published.published_at is not None
    assert abs(published.published_at - datetime.now(UTC)) < timedelta(minutes=1)


# -- text rules: ours and the PDS's agree -----------------------------------------------------


def test_text_is_counted_in_graphemes_and_bytes() -> None:
    assert BlueskyConnector.count_text("👩🏽‍💻") == 1  # five code points, one character
    assert BlueskyConnector.count_text("e\u0301") == 1  # "é" written as e + combining accent
    assert BlueskyConnector.validate(Post(text="👩🏽‍💻" * 200)) == []  # 15 bytes each: 3000
    heavy = Post(text="👩🏽‍💻" * 201)  # 201 characters, 3015 bytes
    assert [p.code for p in BlueskyConnector.validate(heavy)] == ["text_too_many_bytes"]
    assert BlueskyConnector.validate(Post(text="x", options={"langs": ["a", "b", "c", "d"]}))


@pytest.mark.parametrize(
    ("at_limit", "over", "pds_says"),
    [
        ("👍🏽" * 300, "👍🏽" * 300 + "!", "grapheme too big (maximum 300, got 301)"),
        ("👩🏽‍💻" * 200, "👩🏽‍💻" * 201, "too big (maximum 3000, got 3015)"),
    ],
    ids=["graphemes", "bytes"],
)
async def test_the_limits_we_enforce_are_the_ones_the_pds_enforces(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    alice_session: Credentials,
    at_limit: str,
    over: str,
    pds_says: str,
) -> None:
    assert BlueskyConnector.validate(Post(text=at_limit)) == []
    assert await connector.publish(Post(text=at_limit))

    with pytest.raises(InvalidContent):
        await connector.publish(Post(text=over))
    answer = await http.post(  # what the PDS says when sent the same text anyway
        f"{pds.url}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {alice_session.access_token}"},
        json={
            "repo": alice_session.extra["did"],
            "collection": POST,
            "record": {"$type": POST, "text": over, "createdAt": "2025-01-01T00:00:00.000Z"},
        },
    )
    assert answer.status_code == 400
    assert pds_says in answer.json()["message"]


# -- reconciling and deleting ------------------------------------------------------------------


async def test_find_published_matches_on_the_text(
    connector: BlueskyConnector, publishable_post: Post
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert await connector.find_published(publishable_post, since) is None
    published = await connector.publish(publishable_post)
    await connector.publish(Post(text="Another post written after it"))

    found = await connector.find_published(publishable_post, since)
    assert found is not None
    assert (found.post_id, found.url) == (published.post_id, published.url)
    other = Post(text=publishable_post.text + " (edited)")
    assert await connector.find_published(other, since) is None
    assert await connector.find_published(publishable_post, datetime.now(UTC)) is None


async def test_delete_removes_the_record_from_the_pds(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    assert await record_of(http, pds, published.post_id) is not None
    await connector.delete(published.post_id)
    assert await record_of(http, pds, published.post_id) is None
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert await connector.find_published(publishable_post, since) is None


async def test_delete_refuses_a_post_of_another_account(
    connector: BlueskyConnector, bob: PdsAccount
) -> None:
    with pytest.raises(Refused):
        await connector.delete(f"at://{bob.did}/{POST}/3jzfcijpj2z2a")
    with pytest.raises(Refused):
        await connector.delete("https://bsky.app/profile/bob.test/post/3jzfcijpj2z2a")


# -- replies -------------------------------------------------------------------------------------


def _on(uri: str) -> Comment:
    return Comment(comment_id=uri, post_id=uri, text="")


async def test_a_reply_goes_under_the_post_and_a_reply_to_it_stays_in_the_thread(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    first = await connector.reply(_on(published.post_id), "More in the thread #agency")
    post_ref = await strong_ref(http, pds, published.post_id)
    stored = await record_of(http, pds, first.comment_id)
    assert stored is not None  # the PDS validated it against app.bsky.feed.post
    assert stored["reply"] == {"root": post_ref, "parent": post_ref}
    assert [faceted(stored["text"], f) for f in stored["facets"]] == ["#agency"]
    assert (first.parent_id, first.post_id) == (published.post_id, published.post_id)
    assert first.author_id == connector.credentials.extra["did"]

    second = await connector.reply(first, "And the last word")
    stored = await record_of(http, pds, second.comment_id)
    assert stored is not None
    assert stored["reply"]["root"] == post_ref
    assert stored["reply"]["parent"] == await strong_ref(http, pds, first.comment_id)


async def test_a_reply_to_another_accounts_post_starts_its_thread_there(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    rkey = "3jzfcijpj2z2b"  # a TID, as the lexicon asks of post keys
    record = {
        "$type": POST,
        "text": "Does the shop open on Sunday?",
        "createdAt": "2026-11-23T09:00:00.000Z",
    }
    pds.put_record(bob, POST, rkey, record)
    question = f"at://{bob.did}/{POST}/{rkey}"
    answer = await connector.reply(_on(question), "Yes, from 10 to 13.")
    stored = await record_of(http, pds, answer.comment_id)
    assert stored is not None
    ref = await strong_ref(http, pds, question)
    assert stored["reply"] == {"root": ref, "parent": ref}
    with pytest.raises(Refused):  # bob's post is bob's to delete
        await connector.delete_comment(_on(question))
    await connector.delete_comment(answer)
    assert await record_of(http, pds, answer.comment_id) is None


def test_a_first_comment_is_counted_as_a_reply_before_anything_is_sent() -> None:
    thread = "🧵" * 300  # 300 graphemes: a full reply
    assert BlueskyConnector.validate(Post(text="Hello", first_comment=thread)) == []
    [problem] = BlueskyConnector.validate(Post(text="Hello", first_comment=thread + "!"))
    assert (problem.field, problem.code) == ("first_comment", "first_comment_too_long")
    assert "301" in problem.message


async def test_replies_that_cannot_be_made_are_refused_in_words(
    connector: BlueskyConnector, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    with pytest.raises(InvalidContent) as too_long:
        await connector.reply(_on(published.post_id), "word " * 70)
    assert [p.field for p in too_long.value.problems] == ["text"]
    await connector.delete(published.post_id)
    with pytest.raises(Refused, match="no longer exists"):
        await connector.reply(_on(published.post_id), "Too late")
    did = connector.credentials.extra["did"]
    with pytest.raises(Refused, match="only posts"):
        await connector.reply(_on(f"at://{did}/app.bsky.actor.profile/self"), "Hi")
