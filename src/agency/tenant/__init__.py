"""Agencies: the tenants."""
