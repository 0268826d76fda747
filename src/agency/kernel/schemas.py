"""Base classes for request and response bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec


class Locale(StrEnum):
    """The languages of messages and e-mails: the product's users are French agencies."""

    FR = "fr"
    EN = "en"


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are refused rather than silently dropped."""


class Output(msgspec.Struct, kw_only=True):
    """A response body."""


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Password = Annotated[str, msgspec.Meta(min_length=12, max_length=1024)]
Slug = Annotated[
    str, msgspec.Meta(min_length=2, max_length=100, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
]
