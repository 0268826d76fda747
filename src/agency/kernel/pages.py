"""Small HTML pages for people who reach the API with a browser and no frontend: what a
problem type means, how connecting an account went.

Pages are Jinja2 templates, escaped; every sentence on them is marked in Python (``N_`` or
:class:`~agency.kernel.i18n.Text`) and arrives translated, so the templates hold markup only
and the gettext catalogues stay the one place where wording lives.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Response
from litestar.enums import MediaType


@lru_cache(maxsize=8)
def _environment(directory: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory), undefined=StrictUndefined, autoescape=True
    )


def html_page(
    directory: Path,
    template: str,
    locale: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """The page ``template`` of ``directory``, in ``locale`` (its ``lang`` attribute)."""
    body = _environment(directory).get_template(template).render(lang=locale, **context)
    return Response(
        body,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={
            **(headers or {}),
            "Content-Language": locale,
            "Vary": "Accept-Language",
            # Nothing on these pages runs script or loads anything from elsewhere.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )
