"""The contract every connector passes, whatever its network.

A network's test module subclasses :class:`ConnectorContract` and provides three fixtures:

``connector``
    a connector authenticated against the network's local peer (Prism serving the published
    description, a real PDS, or a fake written from the reference docs);
``publishable_post``
    a post the network accepts (``media_post``, by default the same: one with media, for the
    staging test, where the sample has none);
``failing_connector``
    a factory ``status -> Connector`` whose calls get that HTTP status from the peer (Prism:
    ``Prefer: code=<status>``; fakes: their own switch), holding :data:`SECRET` as its
    access token so that the tests can prove no error carries it.

Tests here hold the connector to the architecture: typed errors, every validation problem
listed, declared capabilities implemented and the rest refused, no token in any error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest

from agency.connector import (
    AuthExpired,
    Capability,
    Comment,
    Connector,
    ConnectorError,
    Media,
    NotSupported,
    Post,
    Published,
    RateLimited,
    Transient,
)
from agency.connector.base import AuthKind, BytesSource
from agency.connector.registry import installed

SECRET = "tok-THIS-MUST-NEVER-LEAK-4f1c"

# Capability -> the Connector method that implements it.
METHODS: dict[Capability, str] = {
    Capability.PUBLISH: "publish",
    Capability.FIND_PUBLISHED: "find_published",
    Capability.DELETE: "delete",
    Capability.POST_METRICS: "post_metrics",
    Capability.ACCOUNT_METRICS: "account_metrics",
    Capability.COMMENTS: "comments",
    Capability.MENTIONS: "mentions",
    Capability.PRIVATE_MESSAGES: "private_messages",
    Capability.REPLY: "reply",
    Capability.HIDE_COMMENT: "hide_comment",
    Capability.DELETE_COMMENT: "delete_comment",
    Capability.STAGE_MEDIA: "stage_media",
}

FailingConnector = Callable[[int], Connector]


@contextmanager
def counting(connector: Connector) -> Iterator[list[tuple[httpx.Request, bytes]]]:
    """Every request ``connector`` sends within the block, with its body, in order."""
    seen: list[tuple[httpx.Request, bytes]] = []

    async def keep(request: httpx.Request) -> None:
        seen.append((request, await request.aread()))

    hooks = connector.http.event_hooks
    hooks["request"] = [*hooks["request"], keep]
    try:
        yield seen
    finally:
        hooks["request"] = [h for h in hooks["request"] if h is not keep]


async def _files_sent(seen: list[tuple[httpx.Request, bytes]], post: Post) -> list[str]:
    """The requests of ``seen`` that carry a media file of ``post`` (its bytes, or its
    public URL for a network that fetches it)."""
    marks = [m.public_url.encode() for m in post.media if m.public_url]
    marks += [await m.source.read() for m in post.media if m.source is not None]
    return [
        f"{request.method} {request.url}"
        for request, body in seen
        if any(mark in body or mark in str(request.url).encode() for mark in marks)
    ]


class ConnectorContract:
    connector_class: ClassVar[type[Connector]]

    # -- what the network declares -------------------------------------------------------------

    def test_is_installed_through_the_entry_point(self) -> None:
        assert installed()[self.connector_class.network] is self.connector_class

    def test_describes_itself_for_the_composer(self) -> None:
        described = self.connector_class.describe()
        json.dumps(described)  # GET /networks serves it as is
        assert described["network"] == self.connector_class.network
        assert described["limits"]["max_text_length"] > 0
        assert Capability.PUBLISH in self.connector_class.capabilities
        assert self.connector_class.reference_docs, "cite the network's reference pages"

    def test_oauth_metadata_is_complete(self) -> None:
        cls = self.connector_class
        if cls.auth_kind is AuthKind.APP_PASSWORD:
            assert cls.oauth is None
            return
        meta = cls.oauth_metadata(cls.default_base_url)
        assert meta is not None
        assert meta.authorize_url.startswith("https://")
        assert meta.token_url.startswith("https://")
        assert meta.scopes

    def test_declared_capabilities_are_implemented(self) -> None:
        cls = self.connector_class

        def overridden(method: str) -> bool:
            return getattr(cls, method) is not getattr(Connector, method)

        for capability, method in METHODS.items():
            made = overridden(method)
            if capability is Capability.STAGE_MEDIA:  # file by file, or the whole post ahead
                made = made or overridden("stage_post")
            assert made == (capability in cls.capabilities), (capability, made)
        if overridden("discard_staged"):  # deleting uploads only a staging network makes
            assert Capability.STAGE_MEDIA in cls.capabilities

    async def test_undeclared_capabilities_are_refused(self, connector: Connector) -> None:
        calls: dict[Capability, Callable[[], Any]] = {
            Capability.FIND_PUBLISHED: lambda: connector.find_published(
                Post(text="x"), datetime.now(UTC)
            ),
            Capability.DELETE: lambda: connector.delete("1"),
            Capability.POST_METRICS: lambda: connector.post_metrics("1"),
            Capability.ACCOUNT_METRICS: connector.account_metrics,
            Capability.COMMENTS: lambda: connector.comments("1"),
            Capability.MENTIONS: connector.mentions,
            Capability.PRIVATE_MESSAGES: connector.private_messages,
            Capability.STAGE_MEDIA: lambda: connector.stage_post(
                Post(text="x", media=(Media("image", "image/png", 3, source=BytesSource(b"png")),))
            ),
        }
        for capability, call in calls.items():
            if capability in connector.capabilities:
                continue
            with pytest.raises(NotSupported):
                await call()

    # -- validation --------------------------------------------------------------------------

    def test_publishable_post_is_valid(self, publishable_post: Post) -> None:
        assert self.connector_class.validate(publishable_post) == []

    def test_text_at_the_limit_passes_and_one_more_fails(self, publishable_post: Post) -> None:
        cls = self.connector_class
        limit = cls.limits.max_text_length
        at_limit = Post(text="a" * limit, media=publishable_post.media)
        assert cls.count_text(at_limit.text) == limit
        assert not [p for p in cls.validate(at_limit) if p.field == "text"]
        over = Post(text="a" * (limit + 1), media=publishable_post.media)
        assert [p.code for p in cls.validate(over) if p.field == "text"] == ["text_too_long"]

    def test_every_problem_is_listed_not_the_first(self) -> None:
        cls = self.connector_class
        too_many = cls.limits.max_media + 1
        odd = Media(kind="image", mime_type="image/x-unknown", size=10**12)
        post = Post(text="a" * (cls.limits.max_text_length + 1), media=(odd,) * too_many)
        problems = cls.validate(post)
        codes = {p.code for p in problems}
        assert "text_too_long" in codes
        assert "too_many_media" in codes
        assert {"media_type", "media_kind"} & codes
        assert all(p.message for p in problems)

    def test_validation_reads_descriptions_not_files(self, publishable_post: Post) -> None:
        """The API checks a variant with its media described (type, size, dimensions) and
        neither bytes nor URL: those come at publish time, and their absence is no problem."""
        cls = self.connector_class
        for kind, rule in sorted(cls.limits.media.items()):
            described = Media(
                kind=kind,  # type: ignore[arg-type]
                mime_type=sorted(rule.mime_types)[0],
                size=min(rule.max_bytes, 100_000),
                width=1080,
                height=1080,
                duration_seconds=None if kind == "image" else 10.0,
            )
            loaded = replace(
                described, source=BytesSource(b"\0" * 16), public_url="https://cdn.test/m"
            )
            without = cls.validate(replace(publishable_post, media=(described,)))
            with_file = cls.validate(replace(publishable_post, media=(loaded,)))
            assert without == with_file, (kind, without)

    # -- calls against the peer --------------------------------------------------------------

    async def test_publish_returns_the_network_id(
        self, connector: Connector, publishable_post: Post
    ) -> None:
        published = await connector.publish(publishable_post)
        assert isinstance(published, Published)
        assert published.post_id

    async def test_media_staged_ahead_are_named_by_the_post(
        self, connector: Connector, media_post: Post
    ) -> None:
        if Capability.STAGE_MEDIA not in connector.capabilities:
            # Not declared: the post uploads its media itself, and asking ahead says so.
            assert self.connector_class.staged_media_lifetime is None
            if media_post.media:
                with pytest.raises(NotSupported):
                    await connector.stage_post(media_post)
            assert await connector.discard_staged(["1"]) is False
            return
        if not media_post.media:
            pytest.skip("no sample post with media for this network's peer")
        with counting(connector) as unstaged:
            await connector.publish(media_post)
        before = datetime.now(UTC)
        staged = await connector.stage_post(media_post)
        assert len(staged) == len(media_post.media)
        assert all(s.reference and s.expires_at > before for s in staged)
        lifetime = self.connector_class.staged_media_lifetime
        assert lifetime is not None
        assert all(s.expires_at <= datetime.now(UTC) + lifetime for s in staged)
        named = tuple(
            replace(media, staged=s.reference, source=None)
            for media, s in zip(media_post.media, staged, strict=True)
        )
        with counting(connector) as at_its_time:
            published = await connector.publish(replace(media_post, media=named))
        assert published.post_id
        # The point of it: the post's own call names what went up, and uploads nothing.
        assert len(at_its_time) < len(unstaged), (at_its_time, unstaged)
        assert not await _files_sent(at_its_time, media_post)
        # Uploads no post will name: deleted where the network can, else left to expire.
        spare = await connector.stage_post(media_post)
        assert await connector.discard_staged([s.reference for s in spare]) in (True, False)

    async def test_every_declared_capability_answers(
        self, connector: Connector, publishable_post: Post
    ) -> None:
        published = await connector.publish(publishable_post)
        caps = connector.capabilities
        since = datetime.now(UTC) - timedelta(hours=1)
        if Capability.FIND_PUBLISHED in caps:
            found = await connector.find_published(publishable_post, since)
            assert found is None or found.post_id
        if Capability.POST_METRICS in caps:
            await connector.post_metrics(published.post_id)
        if Capability.ACCOUNT_METRICS in caps:
            await connector.account_metrics()
        if Capability.COMMENTS in caps:
            comments = await connector.comments(published.post_id)
            if comments and Capability.REPLY in caps:
                await connector.reply(comments[0], "Thank you!")
            if comments and Capability.HIDE_COMMENT in caps:
                await connector.hide_comment(comments[0])
            if comments and Capability.DELETE_COMMENT in caps:
                await connector.delete_comment(comments[0])
        if Capability.DELETE in caps:
            await connector.delete(published.post_id)

    async def test_mentions_are_conversations_of_their_own(self, connector: Connector) -> None:
        """A mention is the root of its own thread: its post is itself, it has no parent, and
        an answer to it is a reply to that post."""
        if Capability.MENTIONS not in connector.capabilities:
            return
        mentions = await connector.mentions(datetime(2000, 1, 1, tzinfo=UTC))
        for mention in mentions:
            assert mention.comment_id and mention.post_id == mention.comment_id
            assert mention.parent_id is None
        if mentions and Capability.REPLY in connector.capabilities:
            answer = await connector.reply(mentions[0], "Thank you for the mention!")
            assert answer.post_id == mentions[0].comment_id

    async def test_a_reply_naming_the_post_itself_comments_on_the_post(
        self, connector: Connector, publishable_post: Post
    ) -> None:
        """How the pipeline posts a first comment: a reply to a Comment that is the post."""
        published = await connector.publish(publishable_post)
        on_post = Comment(comment_id=published.post_id, post_id=published.post_id, text="")
        if Capability.REPLY not in connector.capabilities:
            with pytest.raises(NotSupported):
                await connector.reply(on_post, "Thank you!")
            return
        answer = await connector.reply(on_post, "More about this below.")
        assert answer.comment_id  # (Prism's sampled ids may equal the post's: not compared)
        assert answer.post_id == published.post_id

    @pytest.mark.parametrize(
        ("status", "error"), [(401, AuthExpired), (429, RateLimited), (503, Transient)]
    )
    async def test_failures_are_typed(
        self,
        failing_connector: FailingConnector,
        publishable_post: Post,
        status: int,
        error: type[ConnectorError],
    ) -> None:
        connector = failing_connector(status)
        with pytest.raises(error) as caught:
            await connector.publish(publishable_post)
        assert caught.value.message
        assert SECRET not in str(caught.value)
        assert SECRET not in repr(caught.value.__dict__)
        if status == 429:
            assert isinstance(caught.value, RateLimited)
