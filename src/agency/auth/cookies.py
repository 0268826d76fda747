"""The browser side of a session: the token in an HttpOnly cookie, and CSRF protection.

A browser gets the session token as ``agency_session`` (HttpOnly, Secure, SameSite=Lax, so
scripts cannot read it and other sites' forms do not carry it on POST) and a CSRF token as
``agency_csrf`` (readable by the frontend's scripts). A request authenticated by the cookie
that changes something must repeat the CSRF token in ``X-CSRF-Token``: a page of another
origin can make the browser send the cookie, but cannot read ``agency_csrf`` to copy it.
The CSRF token is an HMAC of the session token, so it needs no storage and dies with it.
Clients that are not browsers send ``Authorization: Bearer`` and need none of this.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from litestar.datastructures import Cookie

SESSION_COOKIE = "agency_session"
CSRF_COOKIE = "agency_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str, key: str) -> str:
    return hmac.new(key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, sent: str | None, key: str) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_token, key), sent)


def session_cookies(token: str, expires_at: datetime, key: str) -> list[Cookie]:
    expires = int(expires_at.timestamp())
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            expires=expires,
            path="/",
            httponly=True,
            secure=True,
            samesite="lax",
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=csrf_token(token, key),
            expires=expires,
            path="/",
            httponly=False,
            secure=True,
            samesite="lax",
        ),
    ]


def cleared_cookies() -> list[Cookie]:
    return [
        Cookie(key=name, value="", max_age=0, path="/", secure=True, samesite="lax")
        for name in (SESSION_COOKIE, CSRF_COOKIE)
    ]
