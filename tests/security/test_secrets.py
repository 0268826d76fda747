"""Secrets at rest: versioned Fernet keys, and rotation that re-encrypts every stored secret."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from httpx import AsyncClient
from sqlalchemy import select

from agency.channel.credentials import unseal
from agency.channel.models import Channel
from agency.config import SecretSettings
from agency.kernel.idempotency import IdempotencyKey
from agency.kernel.runtime import Runtime
from agency.kernel.secrets import SecretBox, SecretError, encrypted_columns, rotate_all
from agency.kernel.tenancy import bind_system
from agency.models import Base
from tests.conftest import Tenant
from tests.helpers import insert_channel_objects

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def box(*items: str) -> SecretBox:
    return SecretBox.from_settings(SecretSettings(encryption_keys=list(items)), "unused")


def test_a_secret_names_the_key_that_wrote_it() -> None:
    stored = box(f"1:{OLD}").encrypt("token-123")
    assert stored.startswith("v1:")
    assert "token-123" not in stored
    assert box(f"2:{NEW}", f"1:{OLD}").decrypt(stored) == "token-123"


def test_without_the_key_nothing_opens() -> None:
    stored = box(f"1:{OLD}").encrypt("token-123")
    with pytest.raises(SecretError, match="v1"):
        box(f"2:{NEW}").decrypt(stored)


def test_a_secret_opened_again_is_the_same_and_a_forged_one_still_fails() -> None:
    """Opened secrets are kept by their sealed text: only that exact text gets them back."""
    keys = box(f"1:{OLD}")
    stored = keys.encrypt("token-123")
    other = keys.encrypt("token-456")
    assert [keys.decrypt(stored), keys.decrypt(other), keys.decrypt(stored)] == [
        "token-123",
        "token-456",
        "token-123",
    ]
    version, token = stored.split(":", 1)
    forged = f"{version}:{token[:-4]}AAAA"
    with pytest.raises(SecretError):
        keys.decrypt(forged)
    with pytest.raises(SecretError):  # a failure is not kept as an answer either
        keys.decrypt(forged)
    large = keys.encrypt("x" * 10_000)  # not kept: opened every time, still right
    assert keys.decrypt(large) == keys.decrypt(large) == "x" * 10_000


@pytest.mark.parametrize(
    "setting",
    ["nope", "x:" + OLD, "1:not-a-fernet-key"],
    ids=["no-id", "id-not-a-number", "not-a-key"],  # stable: workers collect the same ids
)
def test_malformed_key_settings_are_refused(setting: str) -> None:
    with pytest.raises(SecretError):
        box(setting)


def test_rotation_finds_every_encrypted_column() -> None:
    names = {f"{t.name}.{c.name}" for t, c in encrypted_columns(Base.metadata)}
    assert {
        "channels.credentials",
        "channel_connections.code_verifier",
        "channel_connections.pending_credentials",
        "oauth_apps.client_secret",
        "idempotency_keys.response_body",
    } <= names
    assert "connect_links.secret_hash" not in names  # a hash: nothing to decrypt


async def test_rotate_re_encrypts_everything_with_the_new_key(
    runtime: Runtime, tenant_a: Tenant, client: AsyncClient
) -> None:
    old_box = box(f"1:{OLD}")
    previous = runtime.secrets
    runtime.secrets = old_box
    try:
        brand = await client.post(
            "/brands",
            json={"name": "Rotation", "slug": "rotation", "timezone": "UTC"},
            headers={**tenant_a.headers, "Idempotency-Key": "rotate-1"},
        )
        assert brand.status_code == 201, brand.text
        await insert_channel_objects(runtime, tenant_a.agency_id, brand.json()["id"])
        new_box = box(f"2:{NEW}", f"1:{OLD}")
        async with runtime.session() as session:
            await bind_system(session)
            counts = await rotate_all(session, new_box, Base.metadata, batch=1)
            await session.commit()
        assert counts["channels.credentials"] == 1
        assert counts["idempotency_keys.response_body"] == 1
        only_new = box(f"2:{NEW}")
        async with runtime.session() as session:
            await bind_system(session)
            channel = (await session.execute(select(Channel))).scalar_one()
            assert channel.credentials is not None
            assert unseal(only_new, channel.credentials).access_token == "matrix-secret-token"
            key = (await session.execute(select(IdempotencyKey))).scalar_one()
            assert key.response_body is not None
            assert b"Rotation" in only_new.decrypt_bytes(key.response_body)
            # Running it again finds nothing left to do.
            again = await rotate_all(session, new_box, Base.metadata)
            assert set(again.values()) == {0}
        # And a replay of the stored answer still works with the new key alone.
        runtime.secrets = only_new
        replay = await client.post(
            "/brands",
            json={"name": "Rotation", "slug": "rotation", "timezone": "UTC"},
            headers={**tenant_a.headers, "Idempotency-Key": "rotate-1"},
        )
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
    finally:
        runtime.secrets = previous
