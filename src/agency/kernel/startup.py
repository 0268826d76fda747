"""What a production process checks before it starts: keys that are really secret.

The built-in ``AGENCY_SECRET_KEY`` is public (it is in this repository): with it anyone forges
signed media links and OAuth state, and, while ``AGENCY_ENCRYPTION_KEYS`` is empty, opens the
channel tokens in the database (their key is derived from it). Only the embedded ``agency
run`` may use it, and says so. ``agency serve``, ``worker``, ``scheduler`` and ``secrets
rotate`` refuse to start with it, with a key too short to be random, or without encryption
keys of their own once sealed secrets exist, each with one line saying what to set.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from agency.config import DEVELOPMENT_SECRET_KEY, Settings
from agency.kernel.db import create_engine, create_session_maker
from agency.kernel.diagnosis import explain
from agency.kernel.secrets import encrypted_columns
from agency.kernel.system import SealedValueRepository
from agency.kernel.tenancy import bind_system

logger = logging.getLogger("agency.startup")

MIN_SECRET_KEY_LENGTH = 32
KEY_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class UnsafeConfiguration(Exception):
    """A setting that makes a production process unsafe to run; the message says the fix."""


def check_secret_key(settings: Settings) -> None:
    key = settings.auth.secret_key.get_secret_value()
    if key == DEVELOPMENT_SECRET_KEY:
        raise UnsafeConfiguration(
            "AGENCY_SECRET_KEY is not set and the built-in development key is public; set it to "
            f"a random value of at least {MIN_SECRET_KEY_LENGTH} characters ({KEY_HINT})."
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise UnsafeConfiguration(
            f"AGENCY_SECRET_KEY is {len(key)} characters; a production key is a random value of "
            f"at least {MIN_SECRET_KEY_LENGTH} ({KEY_HINT})."
        )


async def sealed_secrets_exist(settings: Settings, metadata: MetaData) -> bool:
    """Whether any column of ``metadata`` encrypted at rest holds a value (tables not created
    yet: no)."""
    engine = create_engine(settings.database)
    try:
        async with create_session_maker(engine)() as session:
            await bind_system(session)
            for _, column in encrypted_columns(metadata):
                if await SealedValueRepository(session).any_in(column):
                    return True
            return False
    except ProgrammingError:
        return False  # before `agency db upgrade` there is nothing sealed
    finally:
        await engine.dispose()


def check_production(settings: Settings, metadata: MetaData) -> None:
    """Raise :class:`UnsafeConfiguration` unless this process may run in production.

    ``metadata`` holds every model: the caller (the app assembly) imports them all."""
    check_secret_key(settings)
    if settings.secrets.encryption_keys:
        return
    try:
        sealed = asyncio.run(sealed_secrets_exist(settings, metadata))
    except (OperationalError, DBAPIError, OSError) as exc:
        # Not reachable yet (it starts after us): readiness reports the database; the check
        # runs again at the next start.
        logger.warning(
            "could not check the database for sealed secrets (checked again at the next start): %s",
            explain(exc, database_url=settings.database.url) or exc,
        )
        return
    if sealed:
        raise UnsafeConfiguration(
            "AGENCY_ENCRYPTION_KEYS is empty while the database holds encrypted tokens; set it "
            "to a new key (`agency secrets generate-key --version 1`) followed by the key that "
            "sealed them (`agency secrets derived-key`), then run `agency secrets rotate`."
        )
