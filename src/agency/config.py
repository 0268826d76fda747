"""Settings, grouped by concern. Everything comes from the environment (``AGENCY_*``).

With no configuration at all the embedded default runs: a SQLite file under ``var/``
and Dramatiq's in-process broker.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

VAR_DIR = Path("var")
# Public by definition: only the embedded `agency run` accepts it (kernel/startup.py).
DEVELOPMENT_SECRET_KEY = "insecure-embedded-default-change-me"


# The drivers the app is written for: SQLAlchemy's asyncio extension needs an async one.
DATABASE_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")


class BadSetting(ValueError):
    """A setting the process cannot run with; the message names the variable and the fix."""


def comma_separated(value: object) -> object:
    """An environment variable's ``a, b,c`` as a list (other values as they come)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_DATABASE_", extra="ignore")

    url: str = Field(
        default=f"sqlite+aiosqlite:///{VAR_DIR / 'agency.db'}",
        description="SQLAlchemy async URL the app connects with (a non-owner role on PostgreSQL).",
    )
    migration_url: str | None = Field(
        default=None,
        description="URL of the owner role that runs migrations; defaults to `url`.",
    )
    app_role: str | None = Field(
        default=None,
        description="Non-owner PostgreSQL role granted table privileges after migrations.",
    )
    pool_size: int = Field(default=10, description="Connections kept per process.")
    max_overflow: int = Field(default=10, description="Extra connections under load.")
    pool_pre_ping: bool = Field(
        default=False,
        description=(
            "Test each connection with a round trip whenever it leaves the pool. Off by "
            "default: that trip costs every request; without it, a connection the server "
            "dropped fails the one statement that finds out and the pool replaces every "
            "connection older than it."
        ),
    )
    pool_recycle_seconds: int = Field(
        default=1800,
        description="Connections older than this are replaced when next taken from the pool.",
    )
    echo: bool = False

    @field_validator("url", "migration_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise ValueError(
                "not a database URL; expected postgresql+asyncpg://USER:PASSWORD@HOST:PORT/NAME "
                "or sqlite+aiosqlite:///PATH"
            ) from None
        if driver not in DATABASE_DRIVERS:
            raise ValueError(
                f"the driver {driver!r} is not one the app runs on; use "
                f"{' or '.join(d + '://' for d in DATABASE_DRIVERS)}"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def owner_url(self) -> str:
        return self.migration_url or self.url


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_REDIS_", extra="ignore")

    url: str | None = Field(
        default=None,
        description="Redis URL for Dramatiq's broker; unset means the in-process broker.",
    )


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_", extra="ignore")

    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description=(
            "Key for signed links (media, connect links, OAuth state), at least 32 random "
            "characters; production processes refuse to start without one."
        ),
    )
    session_ttl_hours: int = Field(default=12, description="Lifetime of a login session token.")
    session_max_hours: int = Field(
        default=168,
        description=(
            "However often it is renewed, a session ends this long after its sign-in; then "
            "sign in again."
        ),
    )
    invitation_ttl_hours: int = Field(default=168, description="Lifetime of an invitation.")
    password_reset_ttl_minutes: int = Field(
        default=60, description="Lifetime of an e-mailed password reset link."
    )


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_", extra="ignore")

    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL users reach.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS."
    )
    max_body_bytes: int = Field(default=1_048_576, description="Largest request body accepted.")
    max_header_bytes: int = Field(
        default=16_384, description="Largest total of a request's header fields (else 431)."
    )
    debug: bool = False

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class RateLimitSettings(BaseSettings):
    """Limits where credentials are presented, and per credential elsewhere (kernel/ratelimit)."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_RATE_LIMITS__", extra="ignore")

    enabled: bool = Field(default=True, description="Switch every rate limit off (load tests).")
    credentials_per_ip_per_minute: int = Field(
        default=20, description="Logins and other credential checks from one address per minute."
    )
    credentials_per_account_per_hour: int = Field(
        default=20, description="Logins and sign-in links naming one e-mail address per hour."
    )
    requests_per_credential_per_minute: int = Field(
        default=1200,
        description="Requests per minute with one bearer token or session, on every other route.",
    )


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_WORKER_", extra="ignore")

    threads: int = Field(default=4, description="Dramatiq worker threads per process.")
    scheduler_interval_seconds: float = Field(
        default=1.0, description="How often the scheduler looks for due work."
    )
    prompt_poll_ms: int = Field(
        default=100,
        ge=10,
        le=1_000,
        description="How long the publishing queues wait at most, when idle, before each "
        "worker process looks at them again (the other queues: 1 s, Dramatiq's default); "
        "under a burst, every process then takes its share, not the one that was awake.",
    )


class SecretSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_", extra="ignore")

    encryption_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Comma-separated `version:key` Fernet keys that encrypt tokens at rest, newest "
            "first (e.g. `2:<key>,1:<old key>`); `agency secrets rotate` re-encrypts everything "
            "with the first. Empty: a key derived from AGENCY_SECRET_KEY (embedded default)."
        ),
    )

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class NetworkSettings(BaseModel):
    """The agency's app on one network, and where that network is reached."""

    client_id: str | None = None
    client_secret: SecretStr | None = None
    base_url: str | None = Field(default=None, description="API base URL (tests: a local peer).")
    authorize_url: str | None = None
    token_url: str | None = None
    revocation_url: str | None = None
    redirect_uri: str | None = Field(
        default=None, description="Exact redirect URI registered with the network."
    )


class ConnectorSettings(BaseSettings):
    """Per network, e.g. `AGENCY_NETWORKS__X__CLIENT_ID`, `AGENCY_NETWORKS__X__BASE_URL`."""

    model_config = SettingsConfigDict(
        env_prefix="AGENCY_", env_nested_delimiter="__", extra="ignore"
    )

    networks: dict[str, NetworkSettings] = Field(default_factory=dict)
    http_timeout_seconds: float = Field(default=30.0, description="Timeout of network calls.")
    http_max_connections: int = Field(
        default=1024,
        description="Connections open at once to the networks, per process and event loop "
        "(one per call in flight; httpx's default of 100 queues calls behind each other).",
    )
    http_pools: int = Field(
        default=64,
        description="Clients (connection pools) sharing those connections, used in turn: "
        "httpcore walks its pool's connections each time a request starts or ends (16 "
        "connections each by default).",
    )
    http_keepalive_seconds: float = Field(
        default=4.0,
        ge=0,
        description="How long an idle connection to a network is kept for the next call. "
        "Below the 5 s after which many servers close an idle connection (uvicorn, Node): "
        "a call sent on a connection the server is closing at that moment fails without an "
        "answer, and a publish call without an answer must be reconciled.",
    )
    connection_ttl_minutes: int = Field(
        default=15, description="How long an OAuth authorization may take before it expires."
    )
    connect_link_ttl_hours: int = Field(
        default=72, description="Default lifetime of a connect link sent to a client."
    )
    refresh_lead_minutes: int = Field(
        default=30, description="Refresh a token this long before it expires."
    )

    def network(self, name: str) -> NetworkSettings:
        return self.networks.get(name) or NetworkSettings()


class MediaSettings(BaseSettings):
    """Where uploaded media live: a local directory (embedded default) or S3-compatible storage."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_MEDIA__", extra="ignore")

    storage: Literal["local", "s3"] = Field(default="local", description="`local` or `s3`.")
    local_path: str = Field(default="var/media", description="Directory of the local store.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint (MinIO, R2...).")
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    max_upload_bytes: int = Field(
        default=1_073_741_824, description="Largest media file accepted (bytes)."
    )
    public_url_ttl_seconds: int = Field(
        default=3600, description="Lifetime of the signed URLs networks fetch media from."
    )


class WebhookSettings(BaseSettings):
    """Outgoing webhooks to the agencies' own systems."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_WEBHOOKS__", extra="ignore")

    timeout_seconds: float = Field(default=10.0, description="Timeout of one delivery.")
    retry_delays_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0],
        description=(
            "Comma-separated waits before each retry of a failed delivery (the first attempt "
            "is immediate); once they are used up the delivery is `failed`."
        ),
    )

    @field_validator("retry_delays_seconds", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class OutboundSettings(BaseSettings):
    """Calls to hosts a caller chose: Mastodon and Bluesky servers, webhooks, OIDC issuers."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_OUTBOUND__", extra="ignore")

    allowed_hosts: Annotated[list[str], NoDecode, BeforeValidator(comma_separated)] = Field(
        default_factory=list,
        description=(
            "Comma-separated `host` or `host:port` that may be called although they are "
            "private or loopback (a self-hosted identity provider); `http://` is allowed to "
            "them too."
        ),
    )
    allow_http: bool = Field(
        default=False, description="Allow plain `http://` to any (public) caller-chosen host."
    )


class PublishingSettings(BaseSettings):
    """The publishing pipeline: claims, leases, retries."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_PUBLISHING__", extra="ignore")

    lease_seconds: float = Field(
        default=30.0,
        description="A claimed publication is not claimed again for this long (a lost "
        "message, or a worker that died holding the post before its instant).",
    )
    claim_batch: int = Field(default=1000, description="Rows claimed per transaction.")
    publish_batch: int = Field(
        default=50,
        description="Posts of one agency a worker publishes side by side (prepared and "
        "recorded in one transaction each: the statements are per group, not per post).",
    )
    max_attempts: int = Field(default=5, description="Attempts before a publication fails.")
    stale_attempt_seconds: float = Field(
        default=30.0,
        description="Lease of a post a worker holds (waiting for its instant or on the wire), "
        "renewed every third of it; a post whose lease ends while publishing (its worker died) "
        "is reconciled.",
    )
    lookahead_seconds: float = Field(
        default=3.0,
        description="Posts are claimed this long before they are due; the worker releases "
        "each call at its exact instant, after its last re-check.",
    )
    concurrency: int = Field(
        default=1024,
        description="Publish calls in flight at once in one worker process (a worker raises "
        "its open-files limit to AGENCY_HTTP_MAX_CONNECTIONS and some more, within the hard "
        "limit).",
    )
    media_concurrency: int = Field(
        default=256,
        description="Calls of posts with media (long uploads) in flight at once in one worker "
        "process, apart from the others so that they never hold up short posts.",
    )
    max_held: int = Field(
        default=20_000,
        description="Claimed posts one worker process takes from the broker before it waits.",
    )
    media_lead_seconds: float = Field(
        default=600.0,
        description="Media of a post are uploaded this long before it is due, where its network "
        "takes them ahead (at most half the time the network keeps an unused upload), so that "
        "the call at its time is one small request. 0 uploads them with the post.",
    )
    staging_lease_seconds: float = Field(
        default=300.0,
        description="An upload ahead is not claimed again for this long (its worker died or "
        "its message was lost: it is redone then).",
    )
    staging_interval_seconds: float = Field(
        default=2.0, description="How often the scheduler looks for media to upload ahead."
    )
    staging_attempts: int = Field(
        default=3,
        description="Uploads ahead tried before the failure is reported (the media then go "
        "up with the post at its time).",
    )
    calendar_cache_size: int = Field(
        default=256,
        ge=0,
        description="Calendar answers each API process keeps while the rows they show do not "
        "change (0: none).",
    )


class ReportingSettings(BaseSettings):
    """Metric pulls: the rhythm a post is read at, batches, leases."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_REPORTING__", extra="ignore")

    post_rhythm_hours: Annotated[list[float], NoDecode, BeforeValidator(comma_separated)] = Field(
        default=[1, 6, 24, 72, 168, 720],
        description="Hours after publishing at which a post's metrics are read "
        "(comma-separated, increasing).",
    )
    account_every_hours: float = Field(
        default=24.0, description="How often a channel's account metrics are read."
    )
    enrol_window_hours: float = Field(
        default=72.0, description="Posts published this recently start being followed."
    )
    lease_seconds: float = Field(
        default=300.0, description="A claimed pull is not claimed again for this long."
    )
    claim_batch: int = Field(default=1000, description="Pulls claimed per transaction.")
    pull_batch: int = Field(default=50, description="Pulls of one agency per job.")
    concurrency: int = Field(
        default=8, description="Calls a job makes to the networks side by side."
    )
    rate_limit_default_seconds: float = Field(
        default=300.0, description="Wait after a 429 that names no Retry-After."
    )
    raw_retention_months: int = Field(
        default=13,
        ge=0,
        description="Months of raw metric snapshots kept (whole monthly partitions; the "
        "daily rollups stay); 0 keeps them all, else at least 2.",
    )
    report_cache_size: int = Field(
        default=256,
        ge=0,
        description="Brand reports each API process keeps while their rows do not change "
        "(0: none).",
    )

    @field_validator("post_rhythm_hours")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if not value or any(h <= 0 for h in value) or sorted(set(value)) != value:
            raise ValueError("post_rhythm_hours must be positive and increasing")
        return value

    @field_validator("raw_retention_months")
    @classmethod
    def _two_months_at_least(cls, value: int) -> int:
        # Pulls still write a month back (a post's 30-day pull): that month must stay.
        if value == 1:
            raise ValueError("raw_retention_months is 0 (keep all) or at least 2")
        return value


class InboxSettings(BaseSettings):
    """The inbox: how often comments are read, how far back, how answers are sent."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_INBOX__", extra="ignore")

    pull_every_seconds: float = Field(
        default=300.0, description="How often each channel's new comments are read."
    )
    follow_days: float = Field(
        default=14.0, description="Posts published this recently have their comments read."
    )
    lease_seconds: float = Field(
        default=120.0, description="A claimed pull or answer is not claimed again for this long."
    )
    claim_batch: int = Field(default=500, description="Pulls or answers claimed per transaction.")
    pull_batch: int = Field(default=20, description="Channels of one agency per pull job.")
    pull_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Network reads one pull job keeps in flight at once (its threads' "
        "comments, its channels' mentions).",
    )
    overlap_seconds: float = Field(
        default=120.0,
        description="Each pull reads again this far before its cursor (clocks differ; "
        "what was read twice is stored once).",
    )
    stale_answer_seconds: float = Field(
        default=300.0,
        description="An answer's call unanswered this long (worker died) is reconciled.",
    )
    max_attempts: int = Field(default=3, description="Attempts before an answer fails.")
    deadline_warning_minutes: float = Field(
        default=15.0,
        gt=0,
        description="A message still waiting this long before its answer deadline warns the "
        "team (`inbox.deadline_near`, e-mail); at the deadline, `inbox.deadline_breached`.",
    )


class MailSettings(BaseSettings):
    """Outgoing e-mail: SMTP when a host is set, else ``.eml`` files in a local outbox."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_MAIL__", extra="ignore")

    smtp_host: str | None = Field(
        default=None, description="SMTP server; unset writes each message to `outbox_path`."
    )
    smtp_port: int = Field(default=587, description="SMTP port (587 STARTTLS, 465 TLS).")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="`starttls`, `tls` (implicit, port 465) or `none`."
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: str | None = Field(
        default=None,
        description="PEM file of the authority that signed the SMTP server's certificate "
        "(a private one); the system's authorities otherwise.",
    )
    timeout_seconds: float = Field(default=30.0, description="Timeout of one SMTP exchange.")
    retry_delays_seconds: Annotated[list[float], NoDecode, BeforeValidator(comma_separated)] = (
        Field(
            default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0],
            description="Waits before each retry of a message the server put off (4xx, "
            "unreachable); once they are used up the message is `failed`.",
        )
    )
    lease_seconds: float = Field(
        default=300.0,
        description="A message queued or being sent is left alone this long; then the "
        "scheduler sends it again (message lost) or marks it `unknown` (worker died while "
        "handing it over).",
    )
    sender: str = Field(
        default="agency <no-reply@localhost>", description="The From of every message."
    )
    outbox_path: str = Field(default="var/outbox", description="Where `.eml` files go.")
    frontend_url: str | None = Field(
        default=None,
        description="Where links in e-mails lead (the frontend); defaults to AGENCY_PUBLIC_URL.",
    )
    magic_link_ttl_minutes: int = Field(
        default=15, description="Lifetime of an e-mailed sign-in link."
    )
    decision_link_ttl_hours: int = Field(
        default=72,
        description="Lifetime of an e-mailed decision link (a client approver decides from it).",
    )


class ReportMailSettings(BaseSettings):
    """Report e-mails: how long a run waits for its data, its lease, who may send as whom."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_REPORT_MAIL__", extra="ignore")

    recheck_minutes: float = Field(
        default=30.0,
        description="A run whose metrics are still being collected looks again this often.",
    )
    max_wait_hours: float = Field(
        default=24.0,
        description="Past this wait for late metrics the report is sent with what is in "
        "(the days not measured are shown as such).",
    )
    lease_seconds: float = Field(
        default=300.0, description="A claimed run is not claimed again for this long."
    )
    max_attempts: int = Field(
        default=3, description="Attempts to render a run (an error each time) before it fails."
    )
    confirmation_ttl_hours: int = Field(
        default=168, description="Lifetime of the link that confirms an address."
    )
    sender_domains: Annotated[list[str], NoDecode, BeforeValidator(comma_separated)] = Field(
        default_factory=list,
        description="Domains an agency may send its reports from (its own `sender_address`); "
        "the domain of AGENCY_MAIL__SENDER is always allowed.",
    )


class LogSettings(BaseSettings):
    """What the processes write to standard error."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_LOGS__", extra="ignore")

    format: Literal["text", "json"] = Field(
        default="text", description="`json`: one JSON object a line, for a log collector."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access: bool = Field(default=True, description="One line per HTTP request answered.")


class MetricsSettings(BaseSettings):
    """Prometheus metrics (kernel/metrics.py)."""

    model_config = SettingsConfigDict(env_prefix="AGENCY_METRICS__", extra="ignore")

    enabled: bool = True
    path: str = Field(default="/metrics", description="Where the api shows them.")
    port: int = Field(
        default=9100, description="Where the worker and the scheduler show them (no HTTP else)."
    )
    token: SecretStr | None = Field(
        default=None, description="A bearer token the scraper sends; unset: open to anyone."
    )


class Settings:
    """All settings groups, read once per process (tests build their own)."""

    def __init__(
        self,
        database: DatabaseSettings | None = None,
        redis: RedisSettings | None = None,
        auth: AuthSettings | None = None,
        server: ServerSettings | None = None,
        worker: WorkerSettings | None = None,
        secrets: SecretSettings | None = None,
        connectors: ConnectorSettings | None = None,
        media: MediaSettings | None = None,
        webhooks: WebhookSettings | None = None,
        publishing: PublishingSettings | None = None,
        reporting: ReportingSettings | None = None,
        inbox: InboxSettings | None = None,
        mail: MailSettings | None = None,
        outbound: OutboundSettings | None = None,
        rate_limits: RateLimitSettings | None = None,
        report_mail: ReportMailSettings | None = None,
        logs: LogSettings | None = None,
        metrics: MetricsSettings | None = None,
        app_tenant_filter: bool = True,
    ) -> None:
        self.database = database or read(DatabaseSettings)
        self.redis = redis or read(RedisSettings)
        self.auth = auth or read(AuthSettings)
        self.server = server or read(ServerSettings)
        self.worker = worker or read(WorkerSettings)
        self.secrets = secrets or read(SecretSettings)
        self.connectors = connectors or read(ConnectorSettings)
        self.media = media or read(MediaSettings)
        self.webhooks = webhooks or read(WebhookSettings)
        self.publishing = publishing or read(PublishingSettings)
        self.reporting = reporting or read(ReportingSettings)
        self.inbox = inbox or read(InboxSettings)
        self.rate_limits = rate_limits or read(RateLimitSettings)
        self.mail = mail or read(MailSettings)
        self.outbound = outbound or read(OutboundSettings)
        self.report_mail = report_mail or read(ReportMailSettings)
        self.logs = logs or read(LogSettings)
        self.metrics = metrics or read(MetricsSettings)
        # Tests switch the app-level tenant filter off to prove RLS holds on its own.
        self.app_tenant_filter = app_tenant_filter


G = TypeVar("G", bound=BaseSettings)


def read(group: type[G]) -> G:
    """One group of settings from the environment; :class:`BadSetting` names the variable."""
    try:
        return group()
    except ValidationError as exc:
        first = exc.errors()[0]
        prefix = str(group.model_config.get("env_prefix", ""))
        delimiter = group.model_config.get("env_nested_delimiter") or "__"
        name = prefix + delimiter.join(str(part) for part in first["loc"]).upper()
        given = first.get("input")
        shown = "" if name.endswith(SECRET_NAMES) or not isinstance(given, str) else f"={given!r}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadSetting(f"{name}{shown}: {message}") from None


# Never echo these back, even in a complaint about their shape.
SECRET_NAMES = ("SECRET_KEY", "ENCRYPTION_KEYS", "SECRET", "PASSWORD", "_URL", "SECRET_ACCESS_KEY")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
