"""Bluesky sessions (app passwords, renewal, revocation) and the PDS's rate limits."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agency.connector import (
    AuthExpired,
    Capability,
    Credentials,
    Post,
    RateLimited,
    Refused,
)
from agency_connectors.bluesky import BlueskyConnector
from agency_connectors.bluesky.xrpc import rate_limit
from tests.connectors.bluesky.helpers import AVATAR, POST, connector_for
from tests.connectors.contract import SECRET, FailingConnector
from tests.support.pds import (
    Answer,
    PdsAccount,
    PdsServer,
    signed_like,
)

# -- sessions ----------------------------------------------------------------------------------


async def test_login_with_an_app_password_opens_a_session(
    http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount, alice_session: Credentials
) -> None:
    assert alice_session.extra["did"] == alice.did
    assert alice_session.extra["handle"] == alice.handle
    assert alice_session.extra["pds_url"].endswith(f":{pds.url.rsplit(':', 1)[1]}")
    assert alice_session.scopes == ("com.atproto.appPass",)
    assert alice_session.refresh_token
    assert alice_session.expires_at is not None
    assert datetime.now(UTC) < alice_session.expires_at < datetime.now(UTC) + timedelta(days=1)
    assert SECRET not in repr(alice_session)
    assert alice_session.access_token not in repr(alice_session)


async def test_login_with_a_wrong_password_is_refused_in_plain_words(
    http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    with pytest.raises(Refused) as caught:
        await connector_for(http, pds).login(alice.handle, "not-the-app-password")
    assert caught.value.status == 401
    assert "did not accept this handle and app password" in caught.value.message
    assert "not-the-app-password" not in caught.value.message


async def test_login_with_the_account_password_is_refused_and_the_session_ended(
    http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    sessions: list[str] = []

    async def spy(request: httpx.Request) -> None:
        if request.url.path.endswith("deleteSession"):
            sessions.append(request.headers["authorization"].removeprefix("Bearer "))

    async with httpx.AsyncClient(event_hooks={"request": [spy]}) as watched:
        with pytest.raises(Refused) as caught:
            await connector_for(watched, pds).login(bob.handle, bob.password)
    assert "app password" in caught.value.message
    assert len(sessions) == 1  # the refresh token of the session we would not keep
    left_over = await http.post(
        f"{pds.url}/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {sessions[0]}"},
    )
    assert left_over.status_code in {400, 401}  # the PDS no longer knows that session


async def test_refresh_gives_a_working_session(
    http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    first = await connector_for(http, pds).login(alice.handle, alice.app_password)
    renewed = await connector_for(http, pds, first).refresh(None, None)
    assert renewed.refresh_token != first.refresh_token  # a new session id (jti)
    assert renewed.extra["did"] == alice.did
    assert renewed.expires_at is not None
    accounts = await connector_for(http, pds, renewed).identify()
    assert accounts[0].account_id == alice.did


async def test_revoke_ends_the_session_at_the_pds(http: httpx.AsyncClient, pds: PdsServer) -> None:
    # An account of its own: alice's handle has sign-ins to spare for the other tests.
    carol = pds.create_account(f"carol{uuid.uuid4().hex[:6]}")
    session = await connector_for(http, pds).login(carol.handle, carol.app_password)
    assert Capability.REVOKE in BlueskyConnector.capabilities
    await connector_for(http, pds, session).revoke(None, None)
    with pytest.raises(AuthExpired):  # the PDS refuses the old refresh JWT
        await connector_for(http, pds, session).refresh(None, None)
    await connector_for(http, pds, session).revoke(None, None)  # twice is no error


async def test_refresh_with_a_token_the_pds_never_issued_is_auth_expired(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials
) -> None:
    bogus = Credentials(access_token=SECRET, refresh_token=SECRET, extra=alice_session.extra)
    with pytest.raises(AuthExpired) as caught:
        await connector_for(http, pds, bogus).refresh(None, None)
    assert SECRET not in caught.value.message
    assert "reconnect the channel" in caught.value.message


async def test_an_expired_access_token_is_auth_expired(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials, publishable_post: Post
) -> None:
    # Signed with the PDS's own key, so only the expiry makes it refuse (400 ExpiredToken).
    past = int(time.time()) - 60
    expired = signed_like(alice_session.access_token, pds.jwt_secret, iat=past - 60, exp=past)
    stale = Credentials(access_token=expired, extra=alice_session.extra)
    with pytest.raises(AuthExpired) as caught:
        await connector_for(http, pds, stale).publish(publishable_post)
    assert "expired" in caught.value.message.lower()
    assert expired not in caught.value.message


async def test_identify_reads_the_session_and_the_profile_record(
    connector: BlueskyConnector, http: httpx.AsyncClient, alice: PdsAccount
) -> None:
    (account,) = await connector.identify()
    assert account.account_id == alice.did
    assert account.handle == alice.handle
    assert account.name == "Alice at the Agency"
    assert account.kind == "user"
    assert account.avatar_url is not None
    avatar = await http.get(account.avatar_url)  # served by the PDS itself
    assert (avatar.status_code, avatar.content) == (200, AVATAR)


async def test_identify_without_a_profile_record_names_the_account_by_its_handle(
    http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    session = await connector_for(http, pds).login(bob.handle, bob.app_password)
    (account,) = await connector_for(http, pds, session).identify()
    assert (account.name, account.handle, account.avatar_url) == (bob.handle, bob.handle, None)


# -- rate limits -------------------------------------------------------------------------------


async def test_rate_limit_headers_of_the_pds_are_read(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials
) -> None:
    async def write() -> httpx.Response:
        return await http.post(
            f"{pds.url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {alice_session.access_token}"},
            json={
                "repo": alice_session.extra["did"],
                "collection": POST,
                "record": {"$type": POST, "text": "quota", "createdAt": "2025-01-01T00:00:00Z"},
            },
        )

    before, after = rate_limit(await write()), rate_limit(await write())
    assert before.limit and before.window_seconds and before.reset_at
    assert before.reset_at > time.time()
    assert after.remaining is not None and before.remaining is not None
    assert after.remaining < before.remaining  # each post spends points of the hourly budget


async def test_a_real_429_gives_the_wait_from_the_reset_header(
    failing_connector: FailingConnector, publishable_post: Post, real_429: Answer
) -> None:
    reset = int(dict(real_429.headers)["ratelimit-reset"])
    with pytest.raises(RateLimited) as caught:
        await failing_connector(429).publish(publishable_post)
    assert caught.value.retry_after is not None
    assert abs(caught.value.retry_after - (reset - time.time())) < 5
    assert "30 calls per 5 min" in caught.value.message
