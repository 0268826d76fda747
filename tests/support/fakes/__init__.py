"""Fake network peers written from the networks' reference documentation.

Each fake is an ASGI app reached through ``httpx.ASGITransport``: no socket, no global state
(a fresh fake per test), every request recorded for assertions.
"""
