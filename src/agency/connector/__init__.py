"""The connector framework: what a network plugin declares and implements.

Plugins live under ``connectors/`` and register in the ``agency.connectors`` entry-point
group; the application only ever talks to :class:`~agency.connector.base.Connector`.
"""

from agency.connector.base import (
    Account,
    AccountMetrics,
    AuthKind,
    Capability,
    Comment,
    Connector,
    ConnectorContext,
    Credentials,
    Limits,
    Media,
    MediaRule,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
    StagedMedia,
)
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    InvalidContent,
    NotSupported,
    OutcomeUnknown,
    RateLimited,
    Refused,
    Transient,
)

__all__ = [
    "Account",
    "AccountMetrics",
    "AuthExpired",
    "AuthKind",
    "Capability",
    "Comment",
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "Credentials",
    "InvalidContent",
    "Limits",
    "Media",
    "MediaRule",
    "NotSupported",
    "OAuthMetadata",
    "OutcomeUnknown",
    "Post",
    "PostMetrics",
    "Problem",
    "Published",
    "RateLimited",
    "Refused",
    "StagedMedia",
    "Transient",
]
