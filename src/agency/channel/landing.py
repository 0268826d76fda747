"""Where the browser lands after a network's consent screen, or after a dead connect link.

Three ways, chosen in this order:

1. the connection (or its connect link) names a ``return_url`` (an origin the agency allows,
   checked when it was given): a 303 back there, the outcome in the query string
   (``connection_id``, ``status``, each ``channel_id``, and ``problem``, the problem type, when
   it failed); the frontend reads them and says what happened;
2. the browser asks for HTML (a person following a connect link, with no frontend): a small
   page in the brand's language saying what happened;
3. anything else (an API client): the connection as JSON, or the problem, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from litestar import Request, Response
from litestar.response import Redirect

from agency.brand.models import Brand
from agency.channel.models import Connection
from agency.channel.schemas import ConnectionOut
from agency.kernel.errors import AppError
from agency.kernel.i18n import LOCALES, N_, Text, render, translate
from agency.kernel.pages import html_page
from agency.kernel.problems import problem_type, request_locale

TEMPLATES = Path(__file__).parent / "templates"

HEADINGS = {
    "completed": N_("Account connected"),
    "awaiting_selection": N_("Access granted"),
    "failed": N_("Not connected"),
}


def back_to(return_url: str, connection: Connection | None, problem: AppError | None) -> str:
    """``return_url`` with the outcome added to its query (what it had is kept)."""
    outcome: list[tuple[str, str]] = []
    if connection is not None:
        outcome.append(("connection_id", str(connection.id)))
        outcome.append(("status", "failed" if problem is not None else connection.status))
        outcome.extend(("channel_id", channel_id) for channel_id in connection.channel_ids)
    if problem is not None:
        outcome.append(("problem", problem_type(problem.type_slug)))
    parts = urlsplit(return_url)
    query = "&".join(q for q in (parts.query, urlencode(outcome)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser navigating (``Accept`` names ``text/html``), not an API client."""
    accept = request.headers.get("accept", "")
    return any(
        part.split(";")[0].strip() == "text/html" and "q=0" not in part.replace(" ", "")
        for part in accept.split(",")
    )


def _words(connection: Connection | None, problem: AppError | None, brand: str) -> list[Text]:
    if problem is not None:
        return [
            Text("The accounts of {brand} could not be connected.", brand=brand),
            Text("Ask the agency for a new link if you want to try again."),
        ]
    if connection is not None and connection.status == "awaiting_selection":
        return [
            Text(
                "The network gave access to several accounts: the agency of {brand} will "
                "choose which ones to use.",
                brand=brand,
            ),
            Text("You can close this page."),
        ]
    names = ", ".join(str(a.get("name", "")) for a in connection.accounts) if connection else ""
    return [
        Text("{accounts} is now connected to {brand}.", accounts=names, brand=brand),
        Text("You can close this page."),
    ]


def page(
    request: Request[Any, Any, Any],
    brand: Brand | None,
    connection: Connection | None,
    problem: AppError | None,
) -> Response[str]:
    """The page a person reads, in their brand's language (else the request's)."""
    locale = brand.locale if brand is not None and brand.locale in LOCALES else None
    locale = locale or request_locale(request)
    status = "failed" if problem is not None or connection is None else connection.status
    name = brand.name if brand is not None else ""
    context = {
        "heading": translate(locale, HEADINGS.get(status, HEADINGS["failed"])),
        "lines": [words.render(locale) for words in _words(connection, problem, name)],
        "reason": render(problem.detail, locale) if problem is not None else None,
        "status": status,
    }
    code = problem.status_code if problem is not None else 200
    return html_page(TEMPLATES, "connect_outcome.html", locale, context, status_code=code)


def land(
    request: Request[Any, Any, Any],
    brand: Brand | None,
    connection: Connection | None,
    return_url: str | None,
    problem: AppError | None = None,
) -> Response[Any]:
    """The answer to the browser: back to the frontend, a page, or JSON (see the module)."""
    if return_url is not None:
        return Redirect(back_to(return_url, connection, problem), status_code=303)
    if wants_page(request) and (brand is not None or problem is not None):
        return page(request, brand, connection, problem)
    if problem is not None:
        raise problem
    assert connection is not None
    return Response(ConnectionOut.of(connection))
