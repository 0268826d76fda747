"""The OAuth networks of the connect tests, each a fake with its consent page and token endpoint.

An :class:`OAuthPeer` says where a network's consent page, token endpoint and API are, what
its user reaches (several accounts to pick from, or one), which token requests a connection
makes there, how a refresh gets refused, and every secret the network handed out, for the
tests that look for leaks. The fakes are those of :mod:`tests.support.fakes`, written from
each network's reference pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from agency.config import NetworkSettings
from tests.support.fakes.asgi import FakeServer
from tests.support.fakes.linkedin import FakeLinkedIn
from tests.support.fakes.meta import GraphFake
from tests.support.fakes.meta_base import MetaFake
from tests.support.fakes.meta_threads import ThreadsFake
from tests.support.fakes.oauth import AuthorizationServer
from tests.support.fakes.tiktok import FakeTikTok
from tests.support.fakes.youtube import FakeYouTube

OAUTH_NETWORKS = ("facebook", "instagram", "threads", "linkedin", "tiktok", "youtube")
NO_TOKEN_YET = ""  # the fakes of API-only tests start with a token; these get theirs by OAuth


def app_secret(network: str) -> str:
    """The agency's app secret on ``network``: one no answer or log line holds by chance."""
    return f"{network}-app-secret-5c1e0b7d9a4f"


@dataclass
class OAuthPeer:
    network: str
    fake: FakeServer
    oauth: AuthorizationServer
    authorize_path: str
    token_paths: tuple[str, ...]  # the code exchange's first
    api_path: str  # appended to the server's URL for the connector's base URL
    # The account ids offered for picking (empty: the grant reaches one account), the one to
    # connect, and what its channel shows.
    offered: list[str]
    account: dict[str, str]
    # The grant types of the token requests that connecting makes, then a refresh.
    exchange: tuple[str, ...]
    refresh_grant: str
    lifetime: timedelta | None  # of the token kept once connected; None: it does not expire
    refuse_refresh: Callable[[], None]
    secrets: Callable[[], set[str]]  # every token handed out, and the app's secret
    url: str = ""  # once served
    # The network's RFC 7009-style revocation endpoint, where the connector declares REVOKE.
    revoke_path: str | None = None

    @property
    def pick(self) -> str | None:
        """The account to pick, where the grant reaches several."""
        return self.account["account_id"] if self.offered else None

    @property
    def pkce(self) -> bool:
        return self.network == "youtube"  # of these networks, only Google documents PKCE

    def settings(self) -> NetworkSettings:
        return NetworkSettings(
            client_id=self.oauth.client_id,
            client_secret=self.oauth.client_secret,  # type: ignore[arg-type]
            base_url=self.url + self.api_path,
            authorize_url=self.url + self.authorize_path,
            token_url=self.url + self.token_paths[0],
            revocation_url=self.url + self.revoke_path if self.revoke_path else None,
        )

    def token_requests(self) -> list[dict[str, str]]:
        """What the network's token endpoints received, oldest first (query and form)."""
        return [
            {**dict(r.query), **(r.form() if r.method == "POST" else {})}
            for r in self.fake.requests
            if r.path in self.token_paths
        ]


def _meta_secrets(fake: MetaFake) -> Callable[[], set[str]]:
    return lambda: {*fake.tokens, fake.client_secret}


def _expire_user_tokens(fake: MetaFake) -> Callable[[], None]:
    """The user changed their password: every user token Meta issued is dead."""

    def refuse() -> None:
        for token in fake.tokens.values():
            token.expired = token.expired or token.kind == "user"

    return refuse


def _graph(network: str) -> OAuthPeer:
    """Facebook Pages and Instagram: one Facebook user and the Pages they manage."""
    fake = GraphFake()
    fake.client_secret = fake.oauth.client_secret = app_secret(network)
    instagram = network == "instagram"
    pages = [fake.add_page(n, instagram=instagram) for n in ("Maison Dupont", "Dupont Lyon")]
    fake.add_page("Dupont Archives", instagram=False, tasks=("ANALYZE",))  # not offered
    if instagram:
        offered = [str(p["_ig"]) for p in pages]
        account = {"account_id": offered[0], "account_kind": "business"}
    else:
        offered = [str(p["id"]) for p in pages]
        account = {"account_id": offered[0], "account_kind": "page"}
    version = f"/{fake.version}"
    return OAuthPeer(
        network,
        fake,
        fake.oauth,
        authorize_path=f"{version}/dialog/oauth",
        token_paths=(f"{version}/oauth/access_token",),
        api_path=version,
        offered=offered,
        account={**account, "name": "Maison Dupont", "handle": "maisondupont"},
        exchange=("authorization_code", "fb_exchange_token"),
        refresh_grant="fb_exchange_token",
        lifetime=None,  # a Page token read with a long-lived user token
        refuse_refresh=_expire_user_tokens(fake),
        secrets=_meta_secrets(fake),
    )


def _threads() -> OAuthPeer:
    fake = ThreadsFake()
    fake.client_secret = fake.oauth.client_secret = app_secret("threads")
    return OAuthPeer(
        "threads",
        fake,
        fake.oauth,
        authorize_path="/oauth/authorize",
        token_paths=("/oauth/access_token", "/access_token", "/refresh_access_token"),
        api_path=f"/{fake.version}",
        offered=[],
        account={"account_id": fake.user["id"], "name": "Acme Bakery", "handle": "acme"},
        exchange=("authorization_code", "th_exchange_token"),
        refresh_grant="th_refresh_token",
        lifetime=timedelta(days=60),
        refuse_refresh=_expire_user_tokens(fake),
        secrets=_meta_secrets(fake),
    )


def _rfc6749(
    network: str,
    fake: FakeLinkedIn | FakeTikTok | FakeYouTube,
    paths: tuple[str, str],
    account: dict[str, str],
    lifetime: timedelta,
    offered: list[str] | None = None,
) -> OAuthPeer:
    """A network with refresh tokens (RFC 6749 section 6), whose API lives at the root."""
    return OAuthPeer(
        network,
        fake,
        fake.oauth,
        authorize_path=paths[0],
        token_paths=(paths[1],),
        api_path="",
        offered=offered or [],
        account=account,
        exchange=("authorization_code",),
        refresh_grant="refresh_token",
        lifetime=lifetime,
        refuse_refresh=lambda: setattr(fake, "refresh_token", "revoked"),
        secrets=lambda: {*fake.oauth.issued, fake.oauth.client_secret},
    )


def _linkedin() -> OAuthPeer:
    fake = FakeLinkedIn(NO_TOKEN_YET, client_secret=app_secret("linkedin"))
    fake.organizations["5515715"] = {"localizedName": "Dupont Group", "vanityName": "dupont"}
    offered = [fake.person, *(f"urn:li:organization:{o}" for o in fake.organizations)]
    account = {"account_id": offered[1], "name": "Devtestco", "handle": "devtestco"}
    paths = ("/oauth/v2/authorization", "/oauth/v2/accessToken")
    return _rfc6749("linkedin", fake, paths, account, timedelta(days=60), offered)


def _tiktok() -> OAuthPeer:
    fake = FakeTikTok(NO_TOKEN_YET, client_secret=app_secret("tiktok"))
    account = {"account_id": fake.open_id, "name": "Brand", "handle": "brand.official"}
    paths = ("/v2/auth/authorize/", "/v2/oauth/token/")
    peer = _rfc6749("tiktok", fake, paths, account, timedelta(hours=24))
    peer.revoke_path = "/v2/oauth/revoke/"
    return peer


def _youtube() -> OAuthPeer:
    fake = FakeYouTube(NO_TOKEN_YET, scopes=(), client_secret=app_secret("youtube"))
    account = {
        "account_id": fake.channel["id"],
        "name": "Brand Channel",
        "handle": "@brandchannel",
    }
    paths = ("/o/oauth2/v2/auth", "/token")
    return _rfc6749("youtube", fake, paths, account, timedelta(hours=1))


def oauth_peer(network: str, redirect_uri: str) -> OAuthPeer:
    """A fresh fake of ``network`` whose app has ``redirect_uri`` registered."""
    builders: dict[str, Callable[[], OAuthPeer]] = {
        "facebook": lambda: _graph("facebook"),
        "instagram": lambda: _graph("instagram"),
        "threads": _threads,
        "linkedin": _linkedin,
        "tiktok": _tiktok,
        "youtube": _youtube,
    }
    peer = builders[network]()
    peer.oauth.redirect_uris.add(redirect_uri)
    return peer
