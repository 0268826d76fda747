"""The embedded default (``agency run``) in tests: its parts on a SQLite file.

What ``run_embedded`` (src/agency/embedded.py) puts in one process: the runtime on Dramatiq's
in-process broker, a worker consuming it, the scheduler's loop and the API, on a SQLite file
migrated by ``upgrade()``, with the agency and its token made by the operator's ``agency
admin`` commands. The networks are the stand-in ones of tests/support/stubnet.py on
loopback. Every error ``agency`` logs and every exception a job raises is collected: a
statement SQLite does not understand fails the test that sent it. Fixtures: ``operated``
(per module), ``operator``, ``embedded`` (worker and scheduler running), ``embedded_idle``
(neither: the test starts the worker and runs the claimers itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
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
    OutboundSettings,
    PublishingSettings,
    RedisSettings,
    Settings,
    WorkerSettings,
)
from agency.connector.registry import Registry
from agency.kernel.migrate import upgrade
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import run_scheduler
from tests.conftest import Tenant
from tests.helpers import insert_channel
from tests.support.cli import clean_env, run_agency
from tests.support.metricnet import MetricNetConnector
from tests.support.publishing import running_worker
from tests.support.stubnet import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN,
    StubNetConnector,
    StubNetState,
    TalkNetConnector,
)

OWNER_PASSWORD = "embedded owner password"
OWNER_EMAIL = "owner@maison.example"


@dataclass
class Operator:
    """The SQLite file, migrated, and what ``agency admin`` printed for its agency."""

    database_url: str
    media_path: Path
    agency_id: uuid.UUID
    owner_id: uuid.UUID
    token: str

    @property
    def tenant(self) -> Tenant:
        return Tenant(self.agency_id, "maison", self.owner_id, OWNER_EMAIL, self.token)


class JobFailures(Middleware):
    """Every exception a job raised in the worker (a job's failure is otherwise only a log
    line and a retry)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None:
            self.found.append(f"{message.actor_name}: {type(exception).__name__}: {exception}")


class LoggedErrors(logging.Handler):
    """The scheduler logs a claimer's failure and goes on, as the publisher does a batch's:
    every error ``agency`` logs is collected here."""

    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        detail = f": {record.exc_info[1]}" if record.exc_info else ""
        self.found.append(record.getMessage() + detail)


@dataclass
class Embedded:
    client: httpx.AsyncClient
    runtime: Runtime
    net: StubNetState
    net_url: str
    operator: Operator
    failures: JobFailures
    logged_errors: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.operator.tenant.headers

    def assert_nothing_failed(self) -> None:
        assert self.failures.found == [], self.failures.found
        assert self.logged_errors == [], self.logged_errors

    @contextmanager
    def worker(self) -> Iterator[dramatiq.Worker]:
        """The in-process worker, as ``run_embedded`` starts it."""
        with running_worker(self.runtime, threads=self.runtime.settings.worker.threads) as w:
            yield w

    async def brand_and_channel(
        self, slug: str, network: str = "stubnet", **fields: Any
    ) -> tuple[str, str]:
        """A brand made through the API, and its channel on a stand-in network."""
        body = {"name": slug.title(), "slug": slug, "timezone": "Europe/Paris", **fields}
        response = await self.client.post("/brands", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        brand_id = str(response.json()["id"])
        return brand_id, await self.channel(brand_id, network)

    async def channel(self, brand_id: str, network: str, token: str = TOKEN) -> str:
        return await insert_channel(self.runtime, self.operator.agency_id, brand_id, network, token)

    async def scheduled(
        self, brand_id: str, channel_id: str, text: str, in_seconds: float, **extra: Any
    ) -> dict[str, Any]:
        """A draft of ``text`` on the channel, scheduled ``in_seconds`` from now;
        ``extra``: the variant's other fields, ``publication`` the publication's."""
        publication = extra.pop("publication", {})
        body = {
            "title": text,
            "variants": [{"channel_id": channel_id, "text": text, **extra}],
            **publication,
        }
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
            *("--name", "Maison Embarquée", "--slug", "maison"),
            *("--owner-email", OWNER_EMAIL, "--owner-name", "Owner"),
        ],
        env,
        root,
    )
    token = _admin(["create-token", "--agency", "maison", "--name", "cli"], env, root)
    return Operator(
        url,
        root / "media",
        uuid.UUID(agency["agency_id"]),
        uuid.UUID(agency["owner_id"]),
        token["token"],
    )


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
    return Operator(url, tmp_path / "media", operated.agency_id, operated.owner_id, operated.token)


def embedded_settings(
    operator: Operator, network_url: str, metricnet_url: str | None = None
) -> Settings:
    """The settings ``agency run`` reads with nothing configured, but for the networks (and
    loopback allowed as a webhook's receiver)."""
    networks = {
        name: NetworkSettings(
            base_url=network_url, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
        )
        for name in ("stubnet", "talknet")
    }
    if metricnet_url is not None:
        networks["metricnet"] = NetworkSettings(base_url=metricnet_url)
    return Settings(
        database=DatabaseSettings(url=operator.database_url),
        redis=RedisSettings(url=None),  # Dramatiq's in-process broker
        worker=WorkerSettings(threads=2, scheduler_interval_seconds=0.2),
        media=MediaSettings(storage="local", local_path=str(operator.media_path)),
        connectors=ConnectorSettings(networks=networks, http_timeout_seconds=2.0),
        publishing=PublishingSettings(lease_seconds=2.0, stale_attempt_seconds=3.0),
        outbound=OutboundSettings(allowed_hosts=[network_url.removeprefix("http://")]),
    )


@asynccontextmanager
async def assembled(
    operator: Operator, stubnet: tuple[StubNetState, str], metricnet_url: str | None = None
) -> AsyncIterator[Embedded]:
    """The runtime ``run_embedded`` builds (its own in-process broker), and the API."""
    state, url = stubnet
    settings = embedded_settings(operator, url, metricnet_url)
    previous = dramatiq.broker.global_broker  # setup_broker replaces the process's broker
    connectors = Registry([StubNetConnector, TalkNetConnector, MetricNetConnector])
    runtime = build_runtime(settings, connectors)
    failures = JobFailures()
    runtime.broker.add_middleware(failures)
    transport = httpx.ASGITransport(app=create_app(settings, runtime))
    errors: list[str] = []
    handler = LoggedErrors(errors)
    logging.getLogger("agency").addHandler(handler)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield Embedded(c, runtime, state, url, operator, failures, errors)
    finally:
        logging.getLogger("agency").removeHandler(handler)
        runtime.broker.close()
        await runtime.dispose_current_loop()
        if previous is not None:
            dramatiq.set_broker(previous)


@pytest.fixture
async def embedded_idle(
    operator: Operator, stubnet: tuple[StubNetState, str]
) -> AsyncIterator[Embedded]:
    async with assembled(operator, stubnet) as found:
        yield found


@pytest.fixture
async def embedded(
    operator: Operator, stubnet: tuple[StubNetState, str]
) -> AsyncIterator[Embedded]:
    """The embedded process's parts running: the worker and the scheduler's loop."""
    async with assembled(operator, stubnet) as found:
        stop = asyncio.Event()
        with found.worker():
            scheduler = asyncio.create_task(run_scheduler(found.runtime, stop))
            try:
                yield found
            finally:
                stop.set()
                await scheduler
