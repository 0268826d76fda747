"""The OpenAPI document, as committed at openapi/openapi.json."""

from __future__ import annotations

import json

from litestar import Litestar
from litestar.serialization import encode_json

from agency.app import create_app
from agency.config import Settings


def openapi_json() -> str:
    app = create_app(Settings())
    return render(app)


def render(app: Litestar) -> str:
    document = json.loads(encode_json(app.openapi_schema.to_schema()))
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
