"""``/problems/<slug>``: the page a problem document's ``type`` names, in the reader's language.

Every :class:`~agency.kernel.errors.AppError` subclass is a problem type; its title and
explanation are on its page (found when the app is assembled, so a type added anywhere gets
its page without a line here). ``/problems`` lists them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.params import PathParameter

from agency.kernel.errors import AppError, InvalidInput, NotFound
from agency.kernel.i18n import N_, Text, translate
from agency.kernel.pages import html_page
from agency.kernel.problems import PROBLEM_PATH, request_locale
from agency.kernel.validation import CODES

TEMPLATES = Path(__file__).parent / "templates"
PUBLIC = {"public": True}
# Pages change with a release only.
CACHE = {"Cache-Control": "public, max-age=3600"}


def _subclasses(cls: type[AppError]) -> Iterator[type[AppError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def problem_types() -> dict[str, type[AppError]]:
    """Every problem type by slug (the first class naming a slug is its definition)."""
    found: dict[str, type[AppError]] = {AppError.type_slug: AppError}
    for cls in _subclasses(AppError):
        found.setdefault(cls.type_slug, cls)
    return dict(sorted(found.items()))


def _entry(slug: str, cls: type[AppError], locale: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "href": f"{PROBLEM_PATH}/{slug}",
        "status": cls.status_code,
        "title": translate(locale, cls.title),
        "explanation": translate(locale, cls.explanation),
    }


@get(
    PROBLEM_PATH,
    opt=PUBLIC,
    media_type=MediaType.HTML,
    tags=["Problems"],
    summary="Every problem type this API answers with, explained",
)
async def list_problem_types(request: Request[Any, Any, Any]) -> Response[str]:
    locale = request_locale(request)
    entries = [_entry(slug, cls, locale) for slug, cls in problem_types().items()]
    context = {"heading": translate(locale, N_("Problem types")), "entries": entries}
    return html_page(TEMPLATES, "index.html", locale, context, headers=CACHE)


@get(
    f"{PROBLEM_PATH}/{{slug:str}}",
    opt=PUBLIC,
    media_type=MediaType.HTML,
    tags=["Problems"],
    summary="What one problem type means (the page its type URI names)",
)
async def get_problem_type(
    request: Request[Any, Any, Any],
    slug: Annotated[str, PathParameter(description="The type's last segment.")],
) -> Response[str]:
    cls = problem_types().get(slug)
    if cls is None:
        raise NotFound(Text("No problem type {slug}.", slug=slug))
    locale = request_locale(request)
    context = {
        "entry": _entry(slug, cls, locale),
        "status_label": translate(locale, N_("HTTP status")),
        "codes_heading": translate(locale, N_("Codes of the fields in errors")),
        "codes": (
            [(code, translate(locale, meaning)) for code, meaning in CODES.items()]
            if issubclass(cls, InvalidInput)
            else []
        ),
        "index_label": translate(locale, N_("Every problem type")),
        "index_href": PROBLEM_PATH,
    }
    return html_page(TEMPLATES, "problem.html", locale, context, headers=CACHE)


ROUTES: list[Any] = [list_problem_types, get_problem_type]
