"""``Idempotency-Key`` on creating POSTs: same key and body, same answer; other body, 422.

A key belongs to the credential that sent it (a login session, an API token): the stored
answer may hold a secret shown once, made with that credential's rights, so another member or
another token using the same key never sees it; their request simply runs afresh.

The first request with a key holds a placeholder row (unique per agency, credential and key)
for its whole transaction, so a concurrent twin waits on the index and then gets a conflict
instead of creating a second object. The success response is stored in the transaction that
created the data; a failed request stores nothing and may simply be retried.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.params import HeaderParameter
from sqlalchemy import ColumnElement, ForeignKey, Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, utcnow
from agency.kernel.errors import AppError, Conflict, IdempotencyKeyReused
from agency.kernel.i18n import Text
from agency.kernel.repository import TenantRepository
from agency.kernel.secrets import EncryptedBytes, SecretBox
from agency.kernel.tenancy import Subject, TenantMixin, scoped_update
from agency.kernel.transaction import request_context

MAX_KEY_LENGTH = 255


class IdempotencyKey(IdMixin, TenantMixin, Base):
    __tablename__ = "idempotency_keys"
    __tenant_indexes__ = (
        Index(
            "uq_idempotency_keys_agency_credential_key",
            "agency_id",
            "credential_id",
            "key",
            unique=True,
        ),
    )

    credential_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credentials.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(100))
    # The stored answer may hold a secret shown once (an API token): encrypted at rest.
    response_body: Mapped[bytes | None] = mapped_column(EncryptedBytes)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        """A client member's keys are their own credential's, like everyone's."""
        return cls.credential_id == subject.credential_id


class IdempotencyRepository(TenantRepository[IdempotencyKey]):
    """The keys of the calling credential only."""

    model = IdempotencyKey
    noun = "idempotency key"

    async def find_key(self, key: str) -> IdempotencyKey | None:
        stmt = self.select().where(
            IdempotencyKey.credential_id == self.subject.credential_id, IdempotencyKey.key == key
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def hold(self, key: str, digest: str) -> IdempotencyKey:
        """The placeholder row; its twin in another transaction waits on the index, then fails."""
        if self.subject.credential_id is None:
            raise RuntimeError("an Idempotency-Key needs a credential to belong to")
        record = IdempotencyKey(
            credential_id=self.subject.credential_id, key=key, request_hash=digest
        )
        return await self.add(
            record, "Another request with this Idempotency-Key is in progress; retry it shortly."
        )

    async def store_answer(
        self, record_id: uuid.UUID, status: int, body: bytes, content_type: str | None
    ) -> None:
        await self.session.execute(
            scoped_update(IdempotencyKey, self.subject)
            .where(IdempotencyKey.id == record_id)
            .values(status_code=status, response_body=body, content_type=content_type)
        )


class IdempotentReplay(Exception):
    def __init__(self, record: IdempotencyKey) -> None:
        self.record = record


def handle_replay(request: Request[Any, Any, Any], exc: IdempotentReplay) -> Response[Any]:
    record = exc.record
    box: SecretBox = request_context(request.scope).runtime.secrets
    return Response(
        content=box.decrypt_bytes(record.response_body) if record.response_body else b"",
        status_code=record.status_code or 200,
        # The stored header as it was: as a media_type, a text/* one would get a second charset.
        headers={
            "Content-Type": record.content_type or "application/json",
            "Idempotent-Replayed": "true",
        },
    )


@dataclass
class PendingIdempotency:
    record_id: uuid.UUID
    subject: Subject

    async def remember(
        self,
        session: AsyncSession,
        box: SecretBox,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        content_type = next(
            (v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), None
        )
        await IdempotencyRepository(session, self.subject).store_answer(
            self.record_id, status, box.encrypt_bytes(body), content_type
        )


class Idempotency:
    """Marker a creating handler takes as a parameter; its provider does all the work."""

    def __init__(self, key: str | None) -> None:
        self.key = key


IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=MAX_KEY_LENGTH,
        min_length=1,
        description="Retry-safe creation: the same key and body return the first answer.",
    ),
]


async def provide_idempotency(
    request: Request[Any, Any, Any],
    subject: NamedDependency[Subject],
    db_session: NamedDependency[AsyncSession],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Idempotency:
    if idempotency_key is None:
        return Idempotency(None)
    body = await request.body()
    digest = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    await claim_idempotency_key(request, subject, db_session, idempotency_key, digest)
    return Idempotency(idempotency_key)


async def claim_idempotency_key(
    request: Request[Any, Any, Any],
    subject: Subject,
    db_session: AsyncSession,
    idempotency_key: str,
    digest: str,
) -> None:
    """Replay, refuse, or hold ``idempotency_key`` for this request, identified by ``digest``.

    For a route that cannot hash its raw body (a streamed upload): it calls this itself,
    with a digest of what makes two requests the same.
    """
    keys = IdempotencyRepository(db_session, subject)
    existing = await keys.find_key(idempotency_key)
    if existing is not None:
        _replay_or_refuse(existing, digest)
    record = await keys.hold(idempotency_key, digest)
    request_context(request.scope).idempotency = PendingIdempotency(record.id, subject)


def _replay_or_refuse(existing: IdempotencyKey, digest: str) -> None:
    if existing.request_hash != digest:
        raise IdempotencyKeyReused(
            Text("This Idempotency-Key was used with another request body or path.")
        )
    if existing.status_code is None:
        raise Conflict(Text("Another request with this Idempotency-Key is in progress."))
    raise IdempotentReplay(existing)


__all__ = [
    "AppError",
    "Idempotency",
    "IdempotencyKey",
    "IdempotencyKeyHeader",
    "IdempotentReplay",
    "claim_idempotency_key",
    "provide_idempotency",
]
