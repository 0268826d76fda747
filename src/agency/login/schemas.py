from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from agency.kernel.schemas import Email, Input, Output


class MagicLinkRequest(Input):
    email: Email
    agency_id: uuid.UUID


class MagicLinkRedeem(Input):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class Accepted(Output):
    detail: str
