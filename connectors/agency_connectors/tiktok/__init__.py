"""TikTok (Content Posting API): direct posts of a video or photos, with status polling."""

from agency_connectors.tiktok.connector import TikTokConnector

__all__ = ["TikTokConnector"]
