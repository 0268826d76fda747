"""The app's operations, walked by the route-matrix tests (isolation, privilege, approvals)."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler


def operations(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    """Every (method, path, handler) the app serves, without HEAD, OPTIONS and the schema."""
    ops = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                if path.startswith("/schema"):
                    continue
                ops.append((method, path, handler))
    return ops
