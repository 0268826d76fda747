"""Housekeeping jobs: expiring what has outlived its use."""
