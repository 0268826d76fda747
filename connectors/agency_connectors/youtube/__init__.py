"""YouTube (Data API v3): one video per post, sent with Google's resumable upload protocol."""

from agency_connectors.youtube.connector import YouTubeConnector

__all__ = ["YouTubeConnector"]
