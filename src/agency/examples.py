"""Example bodies for the OpenAPI document, built from each body's JSON Schema.

A value is taken, in order, from: the schema's own ``examples``, its ``const`` or first
``enum`` value, a realistic value for the property's name (:data:`BY_NAME`: a French agency
and its client brand, since those are the product's users), then the simplest value the
type, format, bounds and pattern allow. Ids are stable UUIDs derived from the property (or
object) name, so ``brand_id`` is the same brand in every example. A request example holds
the required fields and those with a realistic value; an answer holds every field.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

NAMESPACE = uuid.UUID("8d3f2a4e-6b1c-4f0e-9a57-2f7c1d0e4b21")
MOMENT = "2026-03-02T09:30:00Z"
MAX_DEPTH = 16  # only a schema that contains itself goes this deep

# Realistic values by property name; a value that breaks the property's schema is skipped.
BY_NAME: dict[str, Any] = {
    "name": "Maison Lumière",
    "display_name": "LinkedIn",
    "brand_name": "Maison Lumière",
    "channel_name": "Maison Lumière on LinkedIn",
    "title": "Spring collection launch",
    "email": "claire.martin@horizon.example",
    "password": "correct horse battery staple",
    "slug": "maison-lumiere",
    "timezone": "Europe/Paris",
    "text": "Our spring collection is here, made in Lyon. #printemps",
    "first_comment": "Photos: Studio Rivière",
    "description": "CRM sync",
    "note": "For Léa, who runs the brand's accounts",
    # A network whose connection starts without calling it (fuzzing replays examples).
    "network": "linkedin",
    "handle": "maison-lumiere",
    "url": "https://crm.horizon.example/hooks/agency",
    "server_url": "https://mastodon.social",
    "link": "https://maisonlumiere.example/printemps",
    "post_url": "https://www.linkedin.com/feed/update/urn:li:share:7123456789012345678",
    "avatar_url": "https://media.licdn.com/dms/image/maison-lumiere.png",
    "authorization_url": "https://www.linkedin.com/oauth/v2/authorization?client_id=abc",
    "sign_in_url": "https://api.horizon.example/auth/providers/0190/0191/sign-in",
    "redirect_uri": "https://api.horizon.example/auth/providers/callback",
    "issuer": "https://login.maisonlumiere.example",
    "client_id": "agency-horizon",
    "client_secret": "s3cr3t-from-the-identity-provider",
    "campaign": "printemps-2026",
    "post_id": "urn:li:share:7123456789012345678",
    "account_id": "urn:li:organization:2414183",
    "token": "agy_AZOMTmoLfB6aVy98HQ5LIQ.hS2x8rQ9tZ3vL6yN1wE4kP7jC0mB5aD",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "next_cursor": "AZOMTmoLfB6aVy98HQ5LIQ",
    "mime_type": "image/jpeg",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "local_time": "09:30",
    "local": "2026-03-02T09:30",
    "date": "2026-03-02",
    "rule": "FREQ=WEEKLY;BYDAY=TU",
    "dtstart": "2026-03-03T09:30",
    "tone": "Warm and precise; we say vous",
    "target_audience": "Women 25-45 who buy design objects",
    "message": "Your endpoint receives our events.",
    "reason": "The network refused the token: connect the account again.",
    "detail": "Sign-in link sent if the address is known.",
    "scopes": ["publications:read", "publications:write"],
    "allowed_domains": ["maisonlumiere.example"],
    "event_types": ["publication.published", "publication.failed"],
    "limit": 50,
    "expires_in_days": 90,
    "expires_in_hours": 72,
    "number": 1,
    "attempts": 1,
    "http_status": 201,
    "last_status_code": 200,
    "status": None,  # an enum: its first value
}
# Nullable fields shown null: what a healthy object has none of.
ABSENT = frozenset(
    {"error", "last_error", "hold_reason", "revoked_at", "canceled_at", "archived_at", "replay_of"}
)
FALLBACK_STRINGS = (
    "example",
    "a",
    "https://example.com",
    "mastodon",
    "0",
    "a@b.example",
    "2026-03-02T09:30",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
)


class Examples:
    """Example values for the schemas of one rendered OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components: dict[str, Any] = document.get("components", {}).get("schemas", {})

    def value(self, schema: dict[str, Any], *, request: bool) -> Any:
        return self._value(schema, name=None, owner=None, request=request, depth=0)

    def _value(
        self, schema: dict[str, Any], name: str | None, owner: str | None, request: bool, depth: int
    ) -> Any:
        if "$ref" in schema:
            component = schema["$ref"].rsplit("/", 1)[-1]
            target = self.components.get(component, {})
            return self._value(target, name, component, request, depth + 1)
        if schema.get("examples"):
            return schema["examples"][0]
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                if name in ABSENT and any(o.get("type") == "null" for o in schema[key]):
                    return None
                options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
                merged = {k: v for k, v in schema.items() if k != key}
                return self._value({**merged, **options[0]}, name, owner, request, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or "properties" in schema:
            return self._object(schema, owner, request, depth)
        if kind == "array":
            return self._array(schema, name, owner, request, depth)
        if kind == "string":
            return self._string(schema, name, owner)
        if kind in ("integer", "number"):
            return self._number(schema, name, kind)
        if kind == "boolean":
            return True
        return None

    def _object(
        self, schema: dict[str, Any], owner: str | None, request: bool, depth: int
    ) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            return {}
        required = set(schema.get("required", ()))
        found: dict[str, Any] = {}
        for key, sub in schema.get("properties", {}).items():
            if request and key not in required and BY_NAME.get(key) is None:
                continue
            found[key] = self._value(sub, key, owner, request, depth + 1)
        extra = schema.get("additionalProperties")
        if not found and isinstance(extra, dict) and extra:
            found["example"] = self._value(extra, None, owner, request, depth + 1)
        return found

    def _array(
        self, schema: dict[str, Any], name: str | None, owner: str | None, request: bool, depth: int
    ) -> list[Any]:
        hinted = BY_NAME.get(name or "")
        items = schema.get("items", {})
        if isinstance(hinted, list) and all(self._fits(items, v) for v in hinted):
            return hinted[: schema.get("maxItems", len(hinted))]
        if depth > MAX_DEPTH:
            return []
        count = max(1, schema.get("minItems", 1))
        return [self._value(items, _singular(name), owner, request, depth + 1)] * count

    def _string(self, schema: dict[str, Any], name: str | None, owner: str | None) -> str:
        form = schema.get("format")
        if form == "uuid":
            key = f"{owner}.id" if name == "id" else (name or owner or "id")
            return str(uuid.uuid5(NAMESPACE, key))
        if form == "date-time":
            return MOMENT
        if form == "date":
            return MOMENT[:10]
        if form == "email":
            return str(BY_NAME["email"])
        candidates = [BY_NAME.get(name or ""), *(FALLBACK_STRINGS if name is None else (name,))]
        candidates += list(FALLBACK_STRINGS)
        for candidate in candidates:
            if isinstance(candidate, str) and self._fits(schema, candidate):
                return candidate
        low = int(schema.get("minLength", 1))
        return ("x" * low)[: int(schema.get("maxLength", low))]

    @staticmethod
    def _fits(schema: dict[str, Any], value: Any) -> bool:
        """Whether a realistic string honours the bounds and pattern of ``schema``."""
        if not isinstance(value, str):
            return False
        pattern = schema.get("pattern")
        return schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)) and (
            pattern is None or re.search(pattern, value) is not None
        )

    @staticmethod
    def _number(schema: dict[str, Any], name: str | None, kind: str) -> int | float:
        hinted = BY_NAME.get(name or "")
        value = hinted if isinstance(hinted, int) else 1
        low = schema.get("minimum", schema.get("exclusiveMinimum", value - 1) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", value + 1) - 1)
        value = min(max(value, low), high)
        return value if kind == "integer" else float(value)


def _singular(name: str | None) -> str | None:
    """``brand_ids`` -> ``brand_id``: an item of a list is named like one of them."""
    if name is None:
        return None
    return name[:-1] if name.endswith("s") else name
