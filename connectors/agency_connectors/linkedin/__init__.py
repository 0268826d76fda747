"""LinkedIn (Posts API): text, images and links for members and organisation pages."""

from agency_connectors.linkedin.connector import LinkedInConnector

__all__ = ["LinkedInConnector"]
