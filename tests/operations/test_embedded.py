"""The embedded default (``agency run``) doing its background work on a SQLite file.

The parts ``agency run`` puts in one process (src/agency/embedded.py): the API, the
scheduler's loop and a Dramatiq worker consuming the in-process broker, on a SQLite file
migrated as ``agency db upgrade`` does; the agency and its token made by the operator's
``agency admin`` commands; the stand-in network of tests/support/stubnet.py on loopback.
Every other publishing test runs on PostgreSQL and Redis: a statement only PostgreSQL
understands fails here, in the job or the claimer that sends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from pydantic import SecretStr

from agency.app import create_app
from agency.assembly import build_runtime
from agency.config import (
    ConnectorSettings,
    DatabaseSettings,
    MediaSettings,
    NetworkSettings,
    PublishingSettings,
    RedisSettings,
    Settings,
    WorkerSettings,
)
from agency.connector.registry import Registry
from agency.kernel.migrate import upgrade
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import run_scheduler
from tests.helpers import insert_channel
from tests.support.cli import clean_env, run_agency
from tests.support.publishing import running_worker
from tests.support.stubnet import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN,
    StubNetConnector,
    StubNetState,
)
from tests.support.world import stubnet as stubnet

pytestmark = pytest.mark.slow  # a worker, a scheduler, a network and the CLI in processes

OWNER_PASSWORD = "embedded owner password"


@dataclass
class Operator:
    """The SQLite file, migrated, and what ``agency admin`` printed for its agency."""

    database_url: str
    media_path: Path
    agency_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class JobFailures(Middleware):
    """Every exception a job raised in the worker (a job's failure is otherwise only a log
    line and a retry)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None:
            self.found.append((message.actor_name, f"{type(exception).__name__}: {exception}"))


@dataclass
class Embedded:
    client: httpx.AsyncClient
    runtime: Runtime
    net: StubNetState
    operator: Operator
    failures: JobFailures
    logged_errors: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.operator.headers

    def assert_nothing_failed(self) -> None:
        assert self.failures.found == [], self.failures.found
        assert self.logged_errors == [], self.logged_errors

    async def brand_and_channel(self, slug: str) -> tuple[str, str]:
        """A brand made through the API, and its channel on the stand-in network."""
        body = {"name": slug.title(), "slug": slug, "timezone": "Europe/Paris"}
        response = await self.client.post("/brands", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        brand_id = str(response.json()["id"])
        channel_id = await insert_channel(
            self.runtime, self.operator.agency_id, brand_id, "stubnet", TOKEN
        )
        return brand_id, channel_id

    async def scheduled(
        self, brand_id: str, channel_id: str, text: str, in_seconds: float, **variant: Any
    ) -> dict[str, Any]:
        """A draft of ``text`` on the channel, scheduled ``in_seconds`` from now."""
        body = {"title": text, "variants": [{"channel_id": channel_id, "text": text, **variant}]}
        drafted = await self.client.post(
            f"/brands/{brand_id}/publications", json=body, headers=self.headers
        )
        assert drafted.status_code == 201, drafted.text
        at = datetime.now(UTC) + timedelta(seconds=in_seconds)
        scheduled = await self.client.post(
            f"/publications/{drafted.json()['id']}/schedule",
            json={"at": at.isoformat()},
            headers={**self.headers, "If-Match": f'"{drafted.json()["version"]}"'},
        )
        assert scheduled.status_code == 200, scheduled.text
        return dict(scheduled.json())

    async def get(self, publication_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/publications/{publication_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def until(
        self, publication_id: str, done: Callable[[dict[str, Any]], bool], within: float = 30
    ) -> dict[str, Any]:
        """Wait, while the scheduler's loop and the worker run, until ``done``; a failure
        (a job's, a claimer's) ends the wait at once."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            self.assert_nothing_failed()
            current = await self.get(publication_id)
            if done(current):
                return current
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; publication is now {current}")
            await asyncio.sleep(0.1)


def _admin(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = run_agency(["admin", *args], env, cwd)
    assert result.returncode == 0, (result.stdout, result.stderr)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Operator:
    """A SQLite file migrated by ``upgrade()``, then an agency and a token made with the
    commands the README gives an operator of the embedded default."""
    root = tmp_path_factory.mktemp("embedded")
    url = f"sqlite+aiosqlite:///{root / 'var' / 'agency.db'}"
    upgrade(Settings(database=DatabaseSettings(url=url)))
    env = clean_env(
        AGENCY_DATABASE_URL=url,
        AGENCY_MEDIA__LOCAL_PATH=str(root / "media"),
        AGENCY_OWNER_PASSWORD=OWNER_PASSWORD,
    )
    agency = _admin(
        [
            "create-agency",
            "--name",
            "Maison Embarquée",
            "--slug",
            "maison",
            "--owner-email",
            "owner@maison.example",
            "--owner-name",
            "Owner",
        ],
        env,
        root,
    )
    token = _admin(["create-token", "--agency", "maison", "--name", "cli"], env, root)
    return Operator(url, root / "media", uuid.UUID(agency["agency_id"]), token["token"])


@pytest.fixture
def operator(operated: Operator, tmp_path: Path) -> Operator:
    """A copy of the operated file for this test alone (a post one test left due is not
    another test's)."""
    source = Path(operated.database_url.removeprefix("sqlite+aiosqlite:///"))
    (tmp_path / "var").mkdir()
    for suffix in ("", "-wal", "-shm"):
        if source.with_name(source.name + suffix).exists():
            shutil.copy(source.with_name(source.name + suffix), tmp_path / "var")
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / source.name}"
    return Operator(url, tmp_path / "media", operated.agency_id, operated.token)


def embedded_settings(operator: Operator, network_url: str) -> Settings:
    """The settings ``agency run`` reads with nothing configured, but for the network."""
    return Settings(
        database=DatabaseSettings(url=operator.database_url),
        redis=RedisSettings(url=None),  # Dramatiq's in-process broker
        worker=WorkerSettings(threads=2, scheduler_interval_seconds=0.2),
        media=MediaSettings(storage="local", local_path=str(operator.media_path)),
        connectors=ConnectorSettings(
            networks={
                "stubnet": NetworkSettings(
                    base_url=network_url,
                    client_id=CLIENT_ID,
                    client_secret=SecretStr(CLIENT_SECRET),
                )
            },
            http_timeout_seconds=2.0,
        ),
        publishing=PublishingSettings(lease_seconds=2.0, stale_attempt_seconds=3.0),
    )


class LoggedErrors(logging.Handler):
    """The scheduler logs a claimer's failure and goes on, as the publisher does a batch's:
    every error ``agency`` logs is collected here."""

    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        detail = f": {record.exc_info[1]}" if record.exc_info else ""
        self.found.append(record.getMessage() + detail)


@pytest.fixture
async def embedded(
    operator: Operator, stubnet: tuple[StubNetState, str]
) -> AsyncIterator[Embedded]:
    """What ``run_embedded`` builds, with the stand-in network as the only connector: the
    runtime (the in-process broker), its worker, the scheduler's loop and the API."""
    state, url = stubnet
    settings = embedded_settings(operator, url)
    previous = dramatiq.broker.global_broker  # setup_broker replaces the process's broker
    runtime = build_runtime(settings, Registry([StubNetConnector]))
    failures = JobFailures()
    runtime.broker.add_middleware(failures)
    found = Embedded(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, runtime)),
            base_url="http://testserver",
        ),
        runtime,
        state,
        operator,
        failures,
    )
    errors = LoggedErrors(found.logged_errors)
    logging.getLogger("agency").addHandler(errors)
    stop = asyncio.Event()
    try:
        with running_worker(runtime, threads=settings.worker.threads):  # as embedded.py does
            scheduler = asyncio.create_task(run_scheduler(runtime, stop))
            try:
                async with found.client:
                    yield found
            finally:
                stop.set()
                await scheduler
    finally:
        logging.getLogger("agency").removeHandler(errors)
        runtime.broker.close()
        await runtime.dispose_current_loop()
        if previous is not None:
            dramatiq.set_broker(previous)


def published(p: dict[str, Any]) -> bool:
    return bool(p["status"] == "published")


async def test_a_scheduled_post_goes_out_once_with_its_first_comment(
    embedded: Embedded,
) -> None:
    brand, channel = await embedded.brand_and_channel("maison-publie")
    publication = await embedded.scheduled(
        brand, channel, "Nouvelle collection", 1, first_comment="Lien en bio"
    )
    assert publication["status"] == "scheduled"
    done = await embedded.until(
        publication["id"], lambda p: p["variants"][0]["first_comment_status"] is not None
    )
    assert done["status"] == "published", done
    variant = done["variants"][0]
    assert variant["status"] == "published" and variant["post_id"] is not None
    assert variant["first_comment_status"] == "posted"
    assert embedded.net.count("Nouvelle collection") == 1
    assert [(c["post_id"], c["text"]) for c in embedded.net.comments] == [
        (variant["post_id"], "Lien en bio")
    ]
    await asyncio.sleep(1)  # more of the scheduler's ticks: still one post
    assert embedded.net.count("Nouvelle collection") == 1
    embedded.assert_nothing_failed()


async def test_a_post_canceled_before_its_time_sends_nothing(embedded: Embedded) -> None:
    brand, channel = await embedded.brand_and_channel("maison-annule")
    publication = await embedded.scheduled(brand, channel, "Annulé", 3)
    canceled = await embedded.client.post(
        f"/publications/{publication['id']}/cancel", headers=embedded.headers
    )
    assert canceled.status_code == 200, canceled.text
    await asyncio.sleep(4.5)  # past its time and its lookahead, the scheduler running
    current = await embedded.get(publication["id"])
    assert current["status"] == "canceled"
    assert current["variants"][0]["status"] == "canceled"
    assert embedded.net.calls == 0
    embedded.assert_nothing_failed()


async def test_an_edited_post_goes_out_as_edited(embedded: Embedded) -> None:
    brand, channel = await embedded.brand_and_channel("maison-corrige")
    publication = await embedded.scheduled(brand, channel, "Première version", 3)
    edited = await embedded.client.patch(
        f"/publications/{publication['id']}",
        json={"variants": [{"channel_id": channel, "text": "Version corrigée"}]},
        headers={**embedded.headers, "If-Match": f'"{publication["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    done = await embedded.until(publication["id"], published)
    assert done["variants"][0]["text"] == "Version corrigée"
    assert [p["text"] for p in embedded.net.posts] == ["Version corrigée"]
    embedded.assert_nothing_failed()
