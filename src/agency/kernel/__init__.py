"""Shared machinery every domain package builds on: database, tenancy, API conventions, jobs."""
