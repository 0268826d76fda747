"""Each network's token endpoint refuses a bad code exchange, and the user reads its words.

The fakes' token endpoints are held to the networks' pages (cited in each fake); here our
code exchange meets every refusal they answer: a client that fails to authenticate, an
unknown code, a code used twice, another redirect URI than the authorization's, and for
PKCE a missing or wrong verifier. The refusal reaches the user (on the connection, in the
callback's answer) in the network's own words.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from agency.connector import ConnectorError, Transient
from agency.connector.oauth import OAuthClient, exchange_code
from agency.connector.registry import installed
from tests.support.fakes.oauth import Refusal, s256
from tests.support.oauth_peers import oauth_peer

REDIRECT_URI = "https://agency.test/oauth/callback"
META = {
    Refusal.BAD_CLIENT: "Error validating application",
    Refusal.UNKNOWN_CODE: "Invalid verification code format",
    Refusal.REUSED_CODE: "This authorization code has been used",
    Refusal.REDIRECT_MISMATCH: "redirect_uri is identical to the one you used",
}
CODE_PROBLEMS = (Refusal.UNKNOWN_CODE, Refusal.REUSED_CODE, Refusal.REDIRECT_MISMATCH)
# What each network says (Instagram logs in through Facebook: same endpoint).
WORDS = {
    "facebook": META,
    "threads": META,
    "linkedin": {
        Refusal.BAD_CLIENT: "invalid_client",
        **dict.fromkeys(CODE_PROBLEMS, "does not match authorization code"),
    },
    "tiktok": {
        Refusal.BAD_CLIENT: "invalid_client",
        **dict.fromkeys(CODE_PROBLEMS, "invalid_grant"),
    },
    "youtube": {
        Refusal.BAD_CLIENT: "invalid_client",
        Refusal.UNKNOWN_CODE: "Malformed auth code",
        Refusal.REUSED_CODE: "invalid_grant",
        Refusal.REDIRECT_MISMATCH: "redirect_uri_mismatch",
        Refusal.VERIFIER_MISSING: "Missing code verifier",
        Refusal.VERIFIER_MISMATCH: "Invalid code verifier",
    },
}


@pytest.mark.parametrize(
    ("network", "refusal"), [(n, r) for n, said in WORDS.items() for r in said]
)
async def test_a_refused_exchange_says_why_in_the_networks_words(
    network: str, refusal: Refusal
) -> None:
    peer = oauth_peer(network, REDIRECT_URI)
    oauth = installed()[network].oauth
    assert oauth is not None
    meta = replace(oauth, token_url=f"http://{network}.test{peer.token_paths[0]}")
    client = OAuthClient(peer.oauth.client_id, peer.oauth.client_secret, REDIRECT_URI)
    verifier = "v" * 64 if peer.pkce else None
    code = peer.oauth.grant(REDIRECT_URI, challenge=s256(verifier) if verifier else None)
    if refusal is Refusal.BAD_CLIENT:
        client = replace(client, client_secret="not-the-secret")
    elif refusal is Refusal.UNKNOWN_CODE:
        code = "not-a-code"
    elif refusal is Refusal.REDIRECT_MISMATCH:
        client = replace(client, redirect_uri=f"{REDIRECT_URI}/elsewhere")
    elif refusal is Refusal.VERIFIER_MISSING:
        verifier = None
    elif refusal is Refusal.VERIFIER_MISMATCH:
        verifier = "w" * 64
    async with peer.fake.client() as http:
        if refusal is Refusal.REUSED_CODE:
            await exchange_code(http, meta, client, code, verifier)
        with pytest.raises(ConnectorError) as refused:
            await exchange_code(http, meta, client, code, verifier)
    assert not isinstance(refused.value, Transient)
    assert WORDS[network][refusal] in refused.value.message
    assert "{" not in refused.value.message  # the network's words, not its JSON
