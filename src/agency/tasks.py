"""Imports every module that declares jobs or periodic schedules."""

from agency.channel import tasks as channel_tasks
from agency.maintenance import tasks as maintenance_tasks

__all__ = ["channel_tasks", "maintenance_tasks"]
