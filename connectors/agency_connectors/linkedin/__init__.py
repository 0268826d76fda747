"""LinkedIn (Posts API, Images and Videos APIs): text, images, a video and links for members and
organisation pages."""

from agency_connectors.linkedin.connector import LinkedInConnector

__all__ = ["LinkedInConnector"]
