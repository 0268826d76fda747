"""The Litestar application, assembled in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import Scope
from opentelemetry import trace

from agency import __version__
from agency.approval.endpoints import ROUTES as APPROVAL_ROUTES
from agency.approval.link.endpoints import ROUTES as DECISION_LINK_ROUTES
from agency.assembly import build_runtime
from agency.audit.endpoints import AuditController
from agency.auth.authentication import (
    authenticate_request,
    provide_db_session,
    provide_subject,
)
from agency.auth.cookies import CSRF_HEADER, SESSION_COOKIE
from agency.auth.endpoints import (
    ApiTokenController,
    AuthController,
    InvitationAcceptController,
)
from agency.brand.endpoints import BrandController
from agency.calendar.endpoints import ROUTES as CALENDAR_ROUTES
from agency.channel.endpoints import (
    BrandChannelController,
    ChannelController,
    ConnectionController,
    ConnectLinkController,
    follow_connect_link,
    list_networks,
    oauth_callback,
    use_connect_link,
)
from agency.client.endpoints import BrandClientMemberController, ClientMemberController
from agency.config import Settings, get_settings
from agency.contract import (
    StrictStructSchemaPlugin,
    created_locations,
    document_contract,
    document_headers,
    operation_id,
)
from agency.crisis.endpoints import ROUTES as CRISIS_ROUTES
from agency.document import document_examples, document_webhooks
from agency.health.endpoints import health, ready
from agency.inbox.endpoints import ROUTES as INBOX_ROUTES
from agency.kernel.conditional import ConditionalReads
from agency.kernel.decoding import AgencyRequest
from agency.kernel.deps import resolve_dependencies_in_turn
from agency.kernel.guards import refuse_nul_characters
from agency.kernel.http import CreatedLocation
from agency.kernel.idempotency import IdempotentReplay, handle_replay, provide_idempotency
from agency.kernel.logs import guard_http_logs
from agency.kernel.metrics import RequestMetrics, metrics_route
from agency.kernel.observation import Observation
from agency.kernel.pagination import provide_page_request
from agency.kernel.problems import EXCEPTION_HANDLERS
from agency.kernel.ratelimit import (
    STORE_NAME,
    document_rate_limits,
    rate_limit_middleware,
    rate_limit_store,
)
from agency.kernel.request_id import HEADER as REQUEST_ID_HEADER
from agency.kernel.request_id import RequestIdMiddleware, echo_request_id
from agency.kernel.runtime import Runtime
from agency.kernel.serving import HeaderSizeLimit
from agency.kernel.strict_bodies import refuse_loose_bodies
from agency.kernel.telemetry import RouteSpanName
from agency.kernel.transaction import transaction_middleware
from agency.login.endpoints import (
    LoginProviderController,
    MagicLinkController,
    PasswordResetController,
    ProviderLogoutController,
    ProviderSignInController,
    provide_client_inviter,
    provide_invitation_mailer,
)
from agency.mail.endpoints import ROUTES as MAIL_ROUTES
from agency.media.endpoints import ROUTES as MEDIA_ROUTES
from agency.member.endpoints import InvitationController, MemberController
from agency.problem.endpoints import ROUTES as PROBLEM_ROUTES
from agency.publication.endpoints import ROUTES as PUBLICATION_ROUTES
from agency.report_mail.endpoints import ROUTES as REPORT_MAIL_ROUTES
from agency.reporting.endpoints import ROUTES as REPORTING_ROUTES
from agency.tenant.endpoints import AgencyController
from agency.webhook.endpoints import ROUTES as WEBHOOK_ROUTES

API_CONTROLLERS: list[Any] = [
    AgencyController,
    AuthController,
    MagicLinkController,
    PasswordResetController,
    ProviderSignInController,
    ProviderLogoutController,
    LoginProviderController,
    ApiTokenController,
    MemberController,
    InvitationController,
    InvitationAcceptController,
    AuditController,
    BrandController,
    BrandClientMemberController,
    ClientMemberController,
    BrandChannelController,
    ChannelController,
    ConnectionController,
    ConnectLinkController,
    list_networks,
    oauth_callback,
    follow_connect_link,
    use_connect_link,
    *MEDIA_ROUTES,
    *PUBLICATION_ROUTES,
    *CALENDAR_ROUTES,
    *CRISIS_ROUTES,
    *WEBHOOK_ROUTES,
    *REPORTING_ROUTES,
    *MAIL_ROUTES,
    *APPROVAL_ROUTES,
    *REPORT_MAIL_ROUTES,
    *DECISION_LINK_ROUTES,
    *INBOX_ROUTES,
]


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    extra_route_handlers: Sequence[Any] = (),
) -> Litestar:
    """Build the API. ``extra_route_handlers`` lets tests and benchmarks add probes."""
    settings = settings or get_settings()
    runtime = runtime or build_runtime(settings)
    resolve_dependencies_in_turn()
    locations: dict[Callable[..., Any], str] = {}  # known once the routes are
    observed = observability(settings, runtime)
    app = Litestar(
        route_handlers=[
            health,
            ready,
            *PROBLEM_ROUTES,
            *API_CONTROLLERS,
            *observed.routes,
            *extra_route_handlers,
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "subject": Provide(provide_subject),
            "idempotency": Provide(provide_idempotency),
            "page": Provide(provide_page_request),
            "runtime": Provide(lambda: runtime, sync_to_thread=False),
            "invite_client": Provide(provide_client_inviter, sync_to_thread=False),
            "mail_invitation": Provide(provide_invitation_mailer, sync_to_thread=False),
        },
        middleware=[
            RequestIdMiddleware(),
            *observed.middleware,
            HeaderSizeLimit(settings.server.max_header_bytes),
            CreatedLocation(locations),
            *rate_limit_middleware(settings, SESSION_COOKIE),
            ConditionalReads(),
            transaction_middleware,
        ],
        stores={STORE_NAME: rate_limit_store(settings)},
        before_request=_before_request,
        before_send=[echo_request_id],
        exception_handlers={**EXCEPTION_HANDLERS, IdempotentReplay: handle_replay},
        cors_config=cors_config(settings),
        openapi_config=openapi_config(settings),
        plugins=[StrictStructSchemaPlugin(), *observed.plugins],
        request_max_body_size=settings.server.max_body_bytes,
        request_class=AgencyRequest,
        debug=False,
        state=None,
        # The process sets its logging up (kernel/logs.py: text or JSON, the request id);
        # Litestar's own would add a second root handler in another format.
        logging_config=None,
    )
    app.state.runtime = runtime
    app.state.app_tenant_filter = settings.app_tenant_filter
    document_contract(app)
    locations.update(created_locations(app))
    document_headers(app, app.openapi_schema)
    document_rate_limits(app, app.openapi_schema)
    document_webhooks(app, app.openapi_schema)
    document_examples(app.openapi_schema)
    logging.getLogger("agency").setLevel(logging.INFO)
    guard_http_logs()
    return app


@dataclass
class Observed:
    routes: list[Any] = field(default_factory=list)
    middleware: list[Any] = field(default_factory=list)
    plugins: list[Any] = field(default_factory=list)


# Probes and scrapes: neither traced nor worth a span each.
UNTRACED = ["/health", "/ready", "/metrics"]


def observability(settings: Settings, runtime: Runtime) -> Observed:
    """The access log, the request metrics and ``/metrics``, the request spans."""
    observed = Observed()
    metrics = RequestMetrics(settings.metrics) if settings.metrics.enabled else None
    if settings.logs.access or metrics is not None:
        observed.middleware.append(Observation(settings.logs.access, metrics))
    if metrics is not None:
        observed.routes.append(metrics_route(settings.metrics, runtime.broker))
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # A provider is configured (kernel.telemetry, or a test's): spans per request.
        config = OpenTelemetryConfig(
            scope_span_details_extractor=_span_name,
            exclude=UNTRACED,
            exclude_spans=["receive", "send"],
        )
        observed.plugins.append(OpenTelemetryPlugin(config))
        observed.middleware.append(RouteSpanName())
    return observed


def _span_name(scope: Scope) -> tuple[str, dict[Any, str]]:
    """The method alone until routing names the route (RouteSpanName): never the raw path,
    which holds ids and tokens."""
    return str(scope.get("method", "HTTP")), {}


# What a frontend on another origin may send, beyond CORS' safe list, and read in answers.
CORS_REQUEST_HEADERS = [
    "Accept-Language",
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    CSRF_HEADER,
    REQUEST_ID_HEADER,
    # W3C Trace Context, so a frontend's trace continues into the API.
    "traceparent",
    "tracestate",
]
CORS_RESPONSE_HEADERS = [
    "Content-Disposition",
    "Content-Language",
    "ETag",
    "Idempotent-Replayed",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Policy",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    REQUEST_ID_HEADER,
]


def cors_config(settings: Settings) -> CORSConfig | None:
    """The frontend's origins may call with credentials (the session cookie, with its CSRF
    header): they are listed one by one, never ``*``."""
    if not settings.server.cors_origins:
        return None
    return CORSConfig(
        allow_origins=settings.server.cors_origins,
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_RESPONSE_HEADERS,
        allow_credentials=True,
    )


async def _before_request(request: Request[Any, Any, Any]) -> None:
    """Credentials first (401/403), then input no handler can store or the schema refuses
    (400)."""
    await authenticate_request(request)
    await refuse_nul_characters(request)
    await refuse_loose_bodies(request)


def openapi_config(settings: Settings) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="agency",
        version=__version__,
        description=(
            "Multi-tenant API for social-media agencies. Authenticate with "
            "`Authorization: Bearer <token>` (a login session or an API token). Errors are "
            "RFC 9457 problem documents."
        ),
        servers=[Server(url="/")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="Token")
            }
        ),
        security=[{"bearer": []}],
        path="/schema",
        # The document describes the API; reading it needs no credentials.
        openapi_router=Router(
            path="/schema", route_handlers=[], opt={"public": True}, include_in_schema=False
        ),
        render_plugins=[ScalarRenderPlugin()],
        use_handler_docstrings=True,
        operation_id_creator=operation_id,
        create_examples=False,
    )
