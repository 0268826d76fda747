"""Bluesky sessions: an app password opens one at the account's PDS.

The channel signs in with its handle and an *app password* (com.atproto.server.createSession);
the session's access JWT is short-lived and renewed with the refresh JWT
(com.atproto.server.refreshSession). Disconnecting ends the session
(com.atproto.server.deleteSession with the refresh JWT): the refresh JWT stops working, so the
agency cannot come back; the app password itself stays until the account owner deletes it in
Bluesky's settings.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from agency.connector.base import Account, Connector, Credentials
from agency.connector.errors import AuthExpired, ConnectorError, Refused
from agency.connector.http import json_body
from agency_connectors.bluesky.xrpc import Missing, jwt_expiry, jwt_scope, send

PROFILE = "app.bsky.actor.profile"
# The scopes of a session opened with an app password; the account password gives
# "com.atproto.access", which can change the e-mail or delete the account.
APP_PASSWORD_SCOPES = frozenset({"com.atproto.appPass", "com.atproto.appPassPrivileged"})


class BlueskySession(Connector):
    """Signing in, renewing and ending the session; the account's identity and records."""

    def _url(self, nsid: str) -> str:
        return f"{self.base_url}/xrpc/{nsid}"

    def _auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.credentials.access_token}"}

    @property
    def _did(self) -> str:
        did = self.credentials.extra.get("did")
        if not did:
            raise AuthExpired("The Bluesky channel lacks its account id (DID); reconnect it.")
        return did

    async def login(self, identifier: str, password: str) -> Credentials:
        """A session from a handle (or e-mail) and an app password."""
        try:
            response = await send(
                lambda: self.http.post(
                    self._url("com.atproto.server.createSession"),
                    json={"identifier": identifier.strip().lstrip("@"), "password": password},
                )
            )
        except (AuthExpired, Refused) as exc:
            if isinstance(exc, Refused) and exc.status != 401:
                raise
            raise Refused(
                "Bluesky did not accept this handle and app password: check both, or create "
                "a new app password in Bluesky (Settings, Privacy and security, App passwords).",
                status=exc.status,
            ) from exc
        session = json_body(response)
        credentials = self._credentials(session)
        if credentials.scopes and credentials.scopes[0] not in APP_PASSWORD_SCOPES:
            await self._end_session(credentials)
            raise Refused(
                "This is the account's own password. Create an app password in Bluesky "
                "(Settings, Privacy and security, App passwords) and use that instead: it can "
                "post but cannot change the account, and it can be revoked on its own."
            )
        if session.get("active") is False:
            await self._end_session(credentials)
            raise Refused(f"The Bluesky account is not active ({session.get('status')}).")
        return credentials

    def _credentials(self, session: dict[str, Any]) -> Credentials:
        access, refresh = session["accessJwt"], session["refreshJwt"]
        scope = jwt_scope(access)
        return Credentials(
            access_token=access,
            refresh_token=refresh,
            expires_at=jwt_expiry(access),
            scopes=(scope,) if scope else (),
            extra={
                "did": session["did"],
                "handle": session["handle"],
                "pds_url": _pds_endpoint(session.get("didDoc")) or self.base_url,
            },
        )

    async def _end_session(self, credentials: Credentials, best_effort: bool = True) -> None:
        # A session we refuse to keep should not stay open on the server (best effort); a
        # disconnect wants to know whether it ended.
        with contextlib.suppress(*((ConnectorError,) if best_effort else ())):
            await send(
                lambda: self.http.post(
                    self._url("com.atproto.server.deleteSession"),
                    headers=self._auth(credentials.refresh_token),
                )
            )

    async def revoke(self, client_id: str | None, client_secret: str | None) -> None:
        """End the session at the PDS: its refresh JWT is then refused."""
        # A session the PDS already ended (expired, revoked) is as good as revoked (as RFC
        # 7009 treats an unknown token).
        with contextlib.suppress(AuthExpired):
            await self._end_session(self.credentials, best_effort=False)

    async def refresh(self, client_id: str | None, client_secret: str | None) -> Credentials:
        """A new session from the refresh JWT; the old refresh JWT stops working."""
        token = self.credentials.refresh_token
        if not token:
            raise AuthExpired("The Bluesky session cannot be renewed; reconnect the channel.")
        try:
            response = await send(
                lambda: self.http.post(
                    self._url("com.atproto.server.refreshSession"), headers=self._auth(token)
                )
            )
        except (AuthExpired, Refused) as exc:
            raise AuthExpired(
                f"The Bluesky session could not be renewed: reconnect the channel. {exc.message}",
                status=exc.status,
            ) from exc
        return self._credentials(json_body(response))

    async def identify(self) -> list[Account]:
        response = await send(
            lambda: self.http.get(self._url("com.atproto.server.getSession"), headers=self._auth())
        )
        session = json_body(response)
        did, handle = session["did"], session["handle"]
        profile = await self._profile(did)
        avatar = profile.get("avatar")
        avatar_cid = avatar.get("ref", {}).get("$link") if isinstance(avatar, dict) else None
        return [
            Account(
                account_id=did,
                name=profile.get("displayName") or handle,
                handle=handle,
                avatar_url=(
                    str(
                        httpx.URL(
                            self._url("com.atproto.sync.getBlob"),
                            params={"did": did, "cid": avatar_cid},
                        )
                    )
                    if isinstance(avatar_cid, str)
                    else None
                ),
            )
        ]

    async def _profile(self, did: str) -> dict[str, Any]:
        """The account's profile record, or {} when it never set one."""
        found = await self._read(did, PROFILE, "self")
        value = found.get("value") if found else None
        return value if isinstance(value, dict) else {}

    async def _read(self, repo: str, collection: str, rkey: str) -> dict[str, Any] | None:
        """``{"uri", "cid", "value"}`` of a record (com.atproto.repo.getRecord), None if none."""
        try:
            response = await send(
                lambda: self.http.get(
                    self._url("com.atproto.repo.getRecord"),
                    params={"repo": repo, "collection": collection, "rkey": rkey},
                ),
                missing=frozenset({"RecordNotFound"}),
            )
        except Missing:
            return None
        found = json_body(response)
        return found if isinstance(found, dict) else None


def _pds_endpoint(did_doc: object) -> str | None:
    """The account's PDS from its DID document (bsky.social accounts live on other hosts)."""
    if not isinstance(did_doc, dict):
        return None
    for service in did_doc.get("service", []):
        if isinstance(service, dict) and str(service.get("id", "")).endswith("#atproto_pds"):
            endpoint = service.get("serviceEndpoint")
            return endpoint if isinstance(endpoint, str) else None
    return None
