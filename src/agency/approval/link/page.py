"""The decision page a link opens: server-rendered (Jinja2), French or English, accessible,
working without JavaScript. Each variant is shown as it will appear on its network."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

_DIR = Path(__file__).parent / "templates"

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Décision sur une publication",
        "intro": "{brand} attend votre décision sur cette publication (étape « {step} »).",
        "scheduled": "Programmée pour",
        "not_scheduled": "Pas encore programmée",
        "as_on": "Telle qu'elle paraîtra sur {network}",
        "characters": "{count} caractères sur {limit}",
        "first_comment": "Premier commentaire",
        "link": "Lien",
        "media": "Média",
        "no_alt": "sans texte alternatif",
        "decide": "Votre décision",
        "as_you": "Elle sera enregistrée à votre nom, {name}. Ce lien ne sert qu'une fois.",
        "approve": "Valider",
        "request_changes": "Demander des modifications",
        "reject": "Refuser",
        "comment": "Commentaire",
        "comment_required": "Commentaire (obligatoire : dites ce qui doit changer)",
        "done_title": "Décision enregistrée",
        "done_approve": "Vous avez validé « {title} ». Merci.",
        "done_request_changes": "Vous avez demandé des modifications sur « {title} ». Merci.",
        "done_reject": "Vous avez refusé « {title} ». Merci.",
        "refused_title": "Ce lien ne peut plus servir",
        "unknown": "Ce lien de décision est inconnu.",
        "used": "Ce lien a déjà servi : une décision a été prise avec lui.",
        "expired": "Ce lien a expiré.",
        "revoked": "Ce lien a été révoqué par l'agence.",
        "stale": "La publication a changé depuis l'envoi de ce lien : la décision porterait "
        "sur une version qui n'est plus la bonne.",
        "not_asked": "Votre décision n'est plus attendue sur cette publication.",
        "cross_site": "Cette décision doit être envoyée depuis la page de décision elle-même.",
        "invalid": "La décision n'a pas pu être enregistrée",
        "what_now": "Si une décision est encore attendue de vous, un nouveau lien vous sera "
        "envoyé par e-mail ; sinon, contactez l'agence.",
    },
    "en": {
        "title": "Decision on a publication",
        "intro": '{brand} is waiting for your decision on this publication (step "{step}").',
        "scheduled": "Scheduled for",
        "not_scheduled": "Not scheduled yet",
        "as_on": "As it will appear on {network}",
        "characters": "{count} characters of {limit}",
        "first_comment": "First comment",
        "link": "Link",
        "media": "Media",
        "no_alt": "no alternative text",
        "decide": "Your decision",
        "as_you": "It is recorded as yours, {name}. This link works once.",
        "approve": "Approve",
        "request_changes": "Request changes",
        "reject": "Reject",
        "comment": "Comment",
        "comment_required": "Comment (required: say what should change)",
        "done_title": "Decision recorded",
        "done_approve": 'You approved "{title}". Thank you.',
        "done_request_changes": 'You asked for changes to "{title}". Thank you.',
        "done_reject": 'You rejected "{title}". Thank you.',
        "refused_title": "This link cannot be used any more",
        "unknown": "This decision link is unknown.",
        "used": "This link was already used: a decision was made with it.",
        "expired": "This link has expired.",
        "revoked": "This link was revoked by the agency.",
        "stale": "The publication changed since this link was sent: a decision would be on a "
        "version that is no longer current.",
        "not_asked": "Your decision is no longer expected on this publication.",
        "cross_site": "This decision must be sent from the decision page itself.",
        "invalid": "The decision could not be recorded",
        "what_now": "If a decision is still expected from you, a new link will be e-mailed to "
        "you; otherwise, contact the agency.",
    },
}


def messages(locale: str) -> dict[str, str]:
    return MESSAGES.get(locale, MESSAGES["fr"])


@dataclass
class MediaPreview:
    kind: str
    url: str | None
    alt: str | None


@dataclass
class VariantPreview:
    network: str
    account: str
    text: str
    link: str | None
    title: str | None
    first_comment: str | None
    media: list[MediaPreview] = field(default_factory=list)
    length: int = 0
    limit: int | None = None


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
    )


def render(template: str, locale: str, **context: Any) -> str:
    locale = locale if locale in MESSAGES else "fr"
    t = messages(locale)
    return _environment().get_template(template).render(lang=locale, t=t, **context)


# The page shows the publication's own media (signed URLs of this API, or the storage's) and
# nothing else: no script at all, forms posting only here, and the token in the address
# never leaks to another site through a Referer.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' https: data:; "
    "style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
