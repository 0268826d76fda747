"""The authorization side the fakes share: a consent page, and a token endpoint's checks.

Every network faked here runs the authorization-code grant of RFC 6749 (section 4.1) under
its own parameter names. What they share lives here: the consent page, which sends the
browser back to a registered redirect URI with a one-time code, or with the user's refusal
in the network's words; and the checks a token endpoint makes before it issues anything:
the client authenticates, the code is known and not used before, the redirect URI is the
one of the authorization (section 4.1.3), the PKCE verifier hashes to the challenge (RFC
7636, section 4.6). Each fake answers a failed check with its network's own error, cited
in that fake.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlencode

from tests.support.fakes.asgi import Request, Response, json_response


class Refusal(StrEnum):
    BAD_CLIENT = "bad_client"
    UNKNOWN_CODE = "unknown_code"
    REUSED_CODE = "reused_code"
    REDIRECT_MISMATCH = "redirect_mismatch"
    VERIFIER_MISSING = "verifier_missing"
    VERIFIER_MISMATCH = "verifier_mismatch"


class GrantRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass
class Grant:
    subject: str  # whose account the code opens
    redirect_uri: str
    scope: str
    challenge: str | None = None
    asked: dict[str, str] = field(default_factory=dict)  # the authorization's parameters
    used: bool = False


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class AuthorizationServer:
    """One app registered on the network, and the user who consents on its consent page."""

    client_id: str
    client_secret: str
    subject: str
    # The network's words when the user refuses (added to the redirect with the state).
    denial: Mapping[str, str]
    client_param: str = "client_id"
    redirect_uris: set[str] = field(default_factory=set)
    codes: dict[str, Grant] = field(default_factory=dict)
    deny_next: bool = False  # the user refuses the next authorization
    issued: list[str] = field(default_factory=list)  # every token handed out

    def grant(
        self,
        redirect_uri: str,
        scope: str = "",
        challenge: str | None = None,
        asked: Mapping[str, str] | None = None,
    ) -> str:
        """A code as the consent page hands it out (tests that skip the page call this)."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(self.subject, redirect_uri, scope, challenge, dict(asked or {}))
        return code

    def authorize(self, request: Request) -> Response:
        """The consent page: the user agrees at once (or refuses, when told to)."""
        redirect_uri = request.param("redirect_uri") or ""
        if request.param(self.client_param) != self.client_id or (
            redirect_uri not in self.redirect_uris
        ):
            # RFC 6749 section 4.1.2.1: never send the browser to an unregistered URI.
            return json_response(400, {"error": "invalid_request"})
        back = {"state": request.param("state") or ""}
        challenge = request.param("code_challenge")
        if request.param("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif challenge and request.param("code_challenge_method") != "S256":
            back["error"] = "invalid_request"
        elif self.deny_next:
            self.deny_next = False
            back |= self.denial
        else:
            scope = request.param("scope") or ""
            back["code"] = self.grant(redirect_uri, scope, challenge, dict(request.query))
        return Response(302, headers={"location": f"{redirect_uri}?{urlencode(back)}"})

    def redeem(self, form: Mapping[str, str], client_secret: str | None) -> Grant:
        """The grant behind a token request's code; raises :class:`GrantRefused`."""
        if form.get(self.client_param) != self.client_id or client_secret != self.client_secret:
            raise GrantRefused(Refusal.BAD_CLIENT)
        grant = self.codes.get(form.get("code") or "")
        if grant is None:
            raise GrantRefused(Refusal.UNKNOWN_CODE)
        if grant.used:
            raise GrantRefused(Refusal.REUSED_CODE)
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            raise GrantRefused(Refusal.REDIRECT_MISMATCH)
        if grant.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                raise GrantRefused(Refusal.VERIFIER_MISSING)
            if s256(verifier) != grant.challenge:
                raise GrantRefused(Refusal.VERIFIER_MISMATCH)
        return grant

    def new_token(self, prefix: str) -> str:
        token = prefix + secrets.token_urlsafe(18)
        self.issued.append(token)
        return token
