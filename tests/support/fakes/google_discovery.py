"""Holding requests (and our own fake answers) to a Google API discovery document.

Google publishes every API as a discovery document
(https://developers.google.com/discovery/v1/reference/apis); the ``google-api-python-client``
wheel ships them under
``googleapiclient/discovery_cache/documents``. This module finds the method a request calls
(HTTP method + path, media-upload paths included), then checks what the document says:
known and non-repeated query parameters, required ones present, booleans, bounded integers,
enums, date-times, request-body fields known to the schema with the right JSON types, and the
OAuth scopes the method accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any


def load_discovery(name: str) -> dict[str, Any]:
    """A discovery document shipped inside google-api-python-client, e.g. ``youtube.v3``."""
    path = files("googleapiclient") / "discovery_cache" / "documents" / f"{name}.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@dataclass(frozen=True)
class Method:
    id: str  # e.g. youtube.videos.insert
    http_method: str
    spec: dict[str, Any]
    upload: bool = False  # reached through a media-upload path


class Violation(Exception):
    """The request breaks the discovery document; ``reason`` as Google's error reasons name it."""

    def __init__(self, message: str, reason: str = "badRequest", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


class Discovery:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.schemas: dict[str, Any] = document["schemas"]
        self.global_parameters: dict[str, Any] = document.get("parameters", {})
        self.routes: dict[tuple[str, str], Method] = {}
        self._collect(document)

    def _collect(self, node: dict[str, Any]) -> None:
        for resource in node.get("resources", {}).values():
            for spec in resource.get("methods", {}).values():
                method = Method(spec["id"], spec["httpMethod"], spec)
                self.routes[(spec["httpMethod"], "/" + spec["path"])] = method
                for protocol in spec.get("mediaUpload", {}).get("protocols", {}).values():
                    upload = Method(spec["id"], spec["httpMethod"], spec, upload=True)
                    self.routes[(spec["httpMethod"], protocol["path"])] = upload
            self._collect(resource)

    def method(self, http_method: str, path: str) -> Method:
        found = self.routes.get((http_method, path))
        if found is None:
            raise Violation(
                f"No method {http_method} {path} in the discovery document", "notFound", 404
            )
        return found

    # -- parameters ------------------------------------------------------------------------------

    def check_query(self, method: Method, query: list[tuple[str, str]]) -> None:
        declared = {**self.global_parameters, **method.spec.get("parameters", {})}
        seen: dict[str, int] = {}
        for name, value in query:
            spec = declared.get(name)
            if spec is None:
                raise Violation(
                    f"Unknown parameter {name!r} for {method.id}", "unexpectedParameter"
                )
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1 and not spec.get("repeated"):
                raise Violation(f"Parameter {name!r} given twice", "badRequest")
            self._check_value(name, value, spec)
        for name, spec in method.spec.get("parameters", {}).items():
            if spec.get("required") and name not in seen:
                raise Violation(f"Missing required parameter {name!r}", "missingRequiredParameter")

    def _check_value(self, name: str, value: str, spec: dict[str, Any]) -> None:
        kind = spec.get("type")
        if kind == "boolean" and value not in ("true", "false"):
            raise Violation(f"{name}={value!r} is not a boolean", "invalidParameter")
        if kind == "integer":
            try:
                number = int(value)
            except ValueError:
                raise Violation(f"{name}={value!r} is not an integer", "invalidParameter") from None
            low, high = spec.get("minimum"), spec.get("maximum")
            if (low is not None and number < int(low)) or (high is not None and number > int(high)):
                raise Violation(f"{name}={number} is out of range", "invalidParameter")
        if "enum" in spec and value not in spec["enum"]:
            raise Violation(f"{name}={value!r} is not one of {spec['enum']}", "invalidParameter")
        if spec.get("format") in ("google-datetime", "date-time"):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise Violation(
                    f"{name}={value!r} is not a date-time", "invalidParameter"
                ) from None

    def check_scopes(self, method: Method, granted: tuple[str, ...]) -> None:
        accepted = method.spec.get("scopes", [])
        if accepted and not set(accepted) & set(granted):
            raise Violation(
                f"{method.id} needs one of the scopes {accepted}", "insufficientPermissions", 403
            )

    # -- bodies ----------------------------------------------------------------------------------

    def check_body(self, method: Method, body: Any) -> None:
        ref = method.spec.get("request", {}).get("$ref")
        if ref is None:
            if body is not None:
                raise Violation(f"{method.id} takes no request body")
            return
        self.check_schema(body, {"$ref": ref}, ref)

    def check_schema(self, value: Any, schema: dict[str, Any], where: str) -> None:
        """``value`` fits ``schema``: known properties only, JSON types as declared."""
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                raise Violation(f"{where} must be an object")
            properties = schema.get("properties")
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if properties is not None and key in properties:
                    self.check_schema(item, properties[key], f"{where}.{key}")
                elif extra is not None:
                    self.check_schema(item, extra, f"{where}.{key}")
                else:
                    raise Violation(f"Unknown field {where}.{key}", "invalidRequestBody")
        elif kind == "array":
            if not isinstance(value, list):
                raise Violation(f"{where} must be an array")
            for index, item in enumerate(value):
                self.check_schema(item, schema["items"], f"{where}[{index}]")
        elif kind == "string":
            # 64-bit integers travel as strings, but Google also accepts JSON numbers for them.
            numeric = schema.get("format") in ("int64", "uint64")
            if not (isinstance(value, str) or (numeric and isinstance(value, int))):
                raise Violation(f"{where} must be a string")
            if "enum" in schema and value not in schema["enum"]:
                raise Violation(f"{where}={value!r} is not one of {schema['enum']}")
            if schema.get("format") == "date-time":
                try:
                    datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                except ValueError:
                    raise Violation(f"{where}={value!r} is not a date-time") from None
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise Violation(f"{where} must be a boolean")
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise Violation(f"{where} must be an integer")
        elif kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise Violation(f"{where} must be a number")


def google_error(status: int, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    """Google's JSON error body (https://cloud.google.com/apis/design/errors#http_mapping)."""
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": statuses.get(status, "UNKNOWN"),
        }
    }
