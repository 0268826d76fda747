"""Every model, imported in one place for Alembic and the metadata."""

from agency.approval.link.models import DecisionLink
from agency.approval.models import (
    ApprovalAssignment,
    ApprovalComment,
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRound,
    ApprovalStep,
)
from agency.audit.models import AuditEvent
from agency.auth.models import Credential
from agency.brand.models import Brand, Crisis, CrisisEvent
from agency.calendar.models import CalendarFeed, PublicationSeries
from agency.channel.models import Channel, Connection, ConnectLink, OAuthApp
from agency.client.models import ClientMember
from agency.inbox.models import (
    Answer,
    AnswerAttempt,
    InboxChannel,
    InboxRules,
    Message,
    Note,
    SavedReply,
    Thread,
)
from agency.kernel.db import Base
from agency.kernel.idempotency import IdempotencyKey
from agency.kernel.periodic import PeriodicJob
from agency.login.models import LoginAttempt, LoginProvider, SignInLink
from agency.mail.models import MailMessage
from agency.media.models import MediaAsset
from agency.member.models import Invitation, Membership, User
from agency.publication.models import Attempt, Publication, PublicationVersion, QueueSlot, Variant
from agency.report_mail.models import (
    ReportBranding,
    ReportDelivery,
    ReportOptOut,
    ReportRun,
    ReportSchedule,
    ScheduleAddress,
)
from agency.reporting.models import (
    BrandDay,
    CampaignResult,
    ChannelDay,
    ChannelMetric,
    Cost,
    MetricSnapshot,
    PostMetric,
    PressCoverage,
    SavedReport,
)
from agency.tenant.models import Agency
from agency.webhook.models import WebhookDelivery, WebhookEvent, WebhookSubscription

__all__ = [
    "Agency",
    "Answer",
    "AnswerAttempt",
    "ApprovalAssignment",
    "ApprovalComment",
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRound",
    "ApprovalStep",
    "Attempt",
    "AuditEvent",
    "Base",
    "Brand",
    "BrandDay",
    "CalendarFeed",
    "CampaignResult",
    "Channel",
    "ChannelDay",
    "ChannelMetric",
    "ClientMember",
    "ConnectLink",
    "Connection",
    "Cost",
    "Credential",
    "Crisis",
    "CrisisEvent",
    "DecisionLink",
    "IdempotencyKey",
    "InboxChannel",
    "InboxRules",
    "Invitation",
    "LoginAttempt",
    "LoginProvider",
    "MailMessage",
    "MediaAsset",
    "Membership",
    "Message",
    "MetricSnapshot",
    "Note",
    "OAuthApp",
    "PeriodicJob",
    "PostMetric",
    "PressCoverage",
    "Publication",
    "PublicationSeries",
    "PublicationVersion",
    "QueueSlot",
    "ReportBranding",
    "ReportDelivery",
    "ReportOptOut",
    "ReportRun",
    "ReportSchedule",
    "SavedReply",
    "SavedReport",
    "ScheduleAddress",
    "SignInLink",
    "Thread",
    "User",
    "Variant",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
