from __future__ import annotations

from typing import Any

# The route handlers this domain adds to the API (registered in agency.app).
ROUTES: list[Any] = []
