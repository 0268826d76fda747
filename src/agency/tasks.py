"""Imports every module that declares jobs or periodic schedules."""

from agency.approval import tasks as approval_tasks
from agency.auth import tasks as auth_tasks
from agency.calendar import tasks as calendar_tasks
from agency.channel import tasks as channel_tasks
from agency.inbox import tasks as inbox_tasks
from agency.mail import tasks as mail_tasks
from agency.maintenance import tasks as maintenance_tasks
from agency.media import tasks as media_tasks
from agency.publication import tasks as publication_tasks
from agency.report_mail import tasks as report_mail_tasks
from agency.reporting import tasks as reporting_tasks
from agency.webhook import tasks as webhook_tasks

__all__ = [
    "approval_tasks",
    "auth_tasks",
    "calendar_tasks",
    "channel_tasks",
    "inbox_tasks",
    "mail_tasks",
    "maintenance_tasks",
    "media_tasks",
    "publication_tasks",
    "report_mail_tasks",
    "reporting_tasks",
    "webhook_tasks",
]
