"""A real Bluesky PDS (the reference implementation, @atproto/pds) with its PLC directory.

``tests/peers/pds.mjs`` runs both on loopback ports from a temporary directory (SQLite, blobs
on disk, PLC in memory), with the PDS's own rate limits on, and an AppView when given one
(its URL and DID: the PDS forwards app.bsky.* queries there with service auth). This module
starts it, waits for its ready line (bounded in time), creates accounts and app passwords
through the PDS's public XRPC methods, and stops it: SIGTERM, then SIGKILL, and closing its
stdin also ends it, so an interrupted test run leaves no server behind.

Run ``python -m tests.support.pds`` for a self-check.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import os
import selectors
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import stop_peer

PEERS = Path(__file__).resolve().parents[1] / "peers"
LAUNCHER = PEERS / "pds.mjs"
START_TIMEOUT = 60.0


class PdsError(RuntimeError):
    """The PDS could not be started, or refused a set-up call."""


@dataclass(frozen=True)
class PdsAccount:
    did: str
    handle: str
    password: str  # the account's own password
    app_password: str
    access_jwt: str  # a session opened with the account password, for set-up calls


class PdsServer:
    """One PDS + PLC pair; ``url`` is the PDS, ``plc_url`` the DID directory."""

    def __init__(
        self,
        *,
        rate_limits: bool = True,
        appview: tuple[str, str] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> None:
        node = shutil.which("node")
        if node is None:
            raise PdsError("node is not installed: the Bluesky tests need Node 20")
        if not (PEERS / "node_modules" / "@atproto" / "pds").is_dir():
            raise PdsError(f"@atproto/pds is not installed: run `npm ci --prefix {PEERS}`")
        self.dir = Path(tempfile.mkdtemp(prefix="pds-test-"))
        self.log_path = self.dir / "pds.log"
        args = [node, str(LAUNCHER), str(self.dir / "data")]
        if rate_limits:
            args.append("--rate-limits")
        (self.dir / "data").mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PDS_BSKY_APP_VIEW")},
            "LOG_ENABLED": "true",
            "LOG_LEVEL": "warn",
        }
        if appview is not None:
            env["PDS_BSKY_APP_VIEW_URL"], env["PDS_BSKY_APP_VIEW_DID"] = appview
        with self.log_path.open("wb") as log:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=PEERS,
                env=env,
                start_new_session=True,
            )
        _LIVE.add(self)
        try:
            ready = self._ready_line(timeout)
        except BaseException:
            self.close()
            raise
        self.url: str = ready["pds"]
        self.plc_url: str = ready["plc"]
        self.lexicons_url: str = ready["lexicons"]  # checks answers against the lexicons
        self.admin_password: str = ready["admin_password"]
        self.jwt_secret: str = ready["jwt_secret"]

    def _ready_line(self, timeout: float) -> dict[str, str]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PdsError(f"the PDS was not ready after {timeout:.0f}s:\n{self.log()}")
                if not selector.select(timeout=min(left, 0.5)):
                    continue
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    proc.wait(timeout=5)
                    raise PdsError(f"the PDS exited ({proc.returncode}):\n{self.log()}")
                buffer += chunk
        ready: dict[str, str] = json.loads(buffer.split(b"\n", 1)[0])
        return ready

    def log(self, max_bytes: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-max_bytes:].decode("utf-8", "replace")
        except OSError as exc:
            return f"<no log: {exc}>"

    # -- set-up through the PDS's own XRPC methods ----------------------------------------------

    def _xrpc(self, nsid: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = httpx.post(f"{self.url}/xrpc/{nsid}", json=body, headers=headers, timeout=30)
        if answer.status_code != 200:
            raise PdsError(f"{nsid} answered {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    def create_account(self, name: str, password: str = "account-password-1") -> PdsAccount:
        """A new account ``<name>.test`` with one app password."""
        handle = f"{name}.test"
        created = self._xrpc(
            "com.atproto.server.createAccount",
            {"handle": handle, "email": f"{name}@example.test", "password": password},
        )
        app = self._xrpc(
            "com.atproto.server.createAppPassword",
            {"name": "agency tests"},
            token=created["accessJwt"],
        )
        return PdsAccount(created["did"], handle, password, app["password"], created["accessJwt"])

    def upload_blob(self, account: PdsAccount, data: bytes, mime_type: str) -> Any:
        answer = httpx.post(
            f"{self.url}/xrpc/com.atproto.repo.uploadBlob",
            content=data,
            headers={"Authorization": f"Bearer {account.access_jwt}", "Content-Type": mime_type},
            timeout=30,
        )
        if answer.status_code != 200:
            raise PdsError(f"uploadBlob answered {answer.status_code}: {answer.text}")
        return answer.json()["blob"]

    def create_record(self, account: PdsAccount, collection: str, record: Any) -> dict[str, str]:
        """Writes ``record`` under a new key; its strong reference ``{"uri", "cid"}``."""
        created = self._xrpc(
            "com.atproto.repo.createRecord",
            {"repo": account.did, "collection": collection, "record": record},
            token=account.access_jwt,
        )
        return {"uri": created["uri"], "cid": created["cid"]}

    def put_record(self, account: PdsAccount, collection: str, rkey: str, record: Any) -> None:
        self._xrpc(
            "com.atproto.repo.putRecord",
            {"repo": account.did, "collection": collection, "rkey": rkey, "record": record},
            token=account.access_jwt,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the servers (SIGTERM, then SIGKILL after 10 s) and remove the directory."""
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is not None:
            stop_peer(proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PdsServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# -- what the Bluesky tests read and forge ---------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class CannedAnswer(httpx.AsyncBaseTransport):
    """Answers ``answer`` to one XRPC method; every other call goes to the real PDS."""

    def __init__(self, nsid: str, answer: Answer) -> None:
        self.path = f"/xrpc/{nsid}"
        self.answer = answer
        self.pds = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != self.path:
            return await self.pds.handle_async_request(request)
        headers = [(k, v) for k, v in self.answer.headers if k.lower() != "content-encoding"]
        return httpx.Response(self.answer.status, headers=headers, content=self.answer.body)

    async def aclose(self) -> None:
        await self.pds.aclose()


async def record_of(http: httpx.AsyncClient, pds: PdsServer, uri: str) -> dict[str, Any] | None:
    """The record as the PDS stores it (None when there is none), read without our code."""
    repo, collection, rkey = uri.removeprefix("at://").split("/")
    answer = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": collection, "rkey": rkey},
    )
    if answer.status_code == 400 and answer.json()["error"] == "RecordNotFound":
        return None
    answer.raise_for_status()
    value: dict[str, Any] = answer.json()["value"]
    return value


def faceted(text: str, facet: dict[str, Any]) -> str:
    """The part of ``text`` a facet points at, cut by UTF-8 byte offsets as Bluesky does."""
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


def png(width: int, height: int) -> bytes:
    """A real PNG (the PDS sniffs the bytes of every blob)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xd0\x40\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def signed_like(token: str, secret: str, **claims: Any) -> str:
    """``token`` re-signed (HS256, as the PDS signs sessions) with some claims changed."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header, payload, _ = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    signing_input = f"{header}.{b64(json.dumps({**body, **claims}).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


_LIVE: set[PdsServer] = set()


@atexit.register
def _close_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.close()


if __name__ == "__main__":
    started = time.perf_counter()
    with PdsServer() as server:
        print(f"PDS {server.url}, PLC {server.plc_url} in {time.perf_counter() - started:.1f}s")
        account = server.create_account("selfcheck")
        print(f"account {account.handle} = {account.did}")
        session = httpx.post(
            f"{server.url}/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": account.app_password},
        )
        print("app-password session:", session.status_code, session.headers.get("ratelimit-policy"))
    print("stopped")
