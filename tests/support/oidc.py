"""A real OpenID provider (the node package ``oidc-provider``) on a loopback port.

``tests/peers/oidc.mjs`` runs it for one relying party (client id, secret, redirect URI) and
offers the test controls it documents: who signs in next, a tampered next ID token, a key
rotation, an outage. This module starts it, waits for its ready line and stops it (closing
its stdin ends it too, so an interrupted run leaves nothing behind).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import stop_peer

PEERS = Path(__file__).resolve().parents[1] / "peers"
START_TIMEOUT = 30.0


class OidcProvider:
    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the sign-in tests need Node 20")
        self.client_id, self.client_secret = client_id, client_secret
        config = {
            "clients": [
                {
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "redirect_uris": [redirect_uri],
                    "post_logout_redirect_uris": ["https://app.agence-durand.example/"],
                }
            ]
        }
        self.log = Path(tempfile.mkstemp(prefix="oidc-", suffix=".log")[1])
        with self.log.open("wb") as log:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [node, str(PEERS / "oidc.mjs"), json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=PEERS,
                start_new_session=True,
            )
        try:
            self.issuer: str = self._ready()["issuer"]
        except BaseException:
            self.close()
            raise

    def _ready(self) -> dict[str, str]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline, buffer = time.monotonic() + START_TIMEOUT, b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"oidc-provider did not start: {self.log.read_text()}")
                if selector.select(timeout=0.2):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"oidc-provider exited: {self.log.read_text()}")
                    buffer += chunk
        ready: dict[str, str] = json.loads(buffer.split(b"\n", 1)[0])
        return ready

    def control(self, what: str, **body: Any) -> dict[str, Any]:
        """One of the launcher's test controls: login, tamper, rotate, down."""
        answer = httpx.post(f"{self.issuer}/__test/{what}", json=body, timeout=10)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def next_login(self, email: str, **claims: Any) -> None:
        self.control("login", sub=claims.pop("sub", email), email=email, **claims)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_peer(proc)
        self.log.unlink(missing_ok=True)
