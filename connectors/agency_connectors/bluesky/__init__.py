"""The Bluesky connector (AT Protocol): app-password sessions, posts as repository records."""

from agency_connectors.bluesky.connector import BlueskyConnector

__all__ = ["BlueskyConnector"]
