"""Imports every module that declares jobs or periodic schedules."""

from agency.maintenance import tasks as maintenance_tasks

__all__ = ["maintenance_tasks"]
