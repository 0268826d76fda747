"""The words of a report e-mail in each language, and numbers and dates as each reads them.

Numbers, percentages and dates are formatted by Babel (CLDR data): ``12 000`` and ``2,85 %``
in French, ``12,000`` and ``2.85%`` in English. A figure the networks do not give is "n/a"
(*n.d.*), never 0.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from babel.dates import format_date, format_interval, format_timedelta
from babel.numbers import format_decimal, format_percent

LOCALES = ("fr", "en")

FIGURES: dict[str, dict[str, str]] = {
    "posts": {"fr": "Publications", "en": "Posts"},
    "impressions": {"fr": "Impressions", "en": "Impressions"},
    "reach": {"fr": "Portée", "en": "Reach"},
    "reactions": {"fr": "Réactions", "en": "Reactions"},
    "comments": {"fr": "Commentaires", "en": "Comments"},
    "shares": {"fr": "Partages", "en": "Shares"},
    "saves": {"fr": "Enregistrements", "en": "Saves"},
    "link_clicks": {"fr": "Clics sur les liens", "en": "Link clicks"},
    "video_views": {"fr": "Vues de vidéos", "en": "Video views"},
    "interactions": {"fr": "Interactions", "en": "Interactions"},
    "engagement_rate_reach": {"fr": "Taux d'engagement (portée)", "en": "Engagement (reach)"},
    "engagement_rate_followers": {
        "fr": "Taux d'engagement (abonnés)",
        "en": "Engagement (followers)",
    },
    "followers": {"fr": "Abonnés", "en": "Followers"},
    "audience_growth": {"fr": "Croissance de l'audience", "en": "Audience growth"},
    "audience_growth_rate": {"fr": "Taux de croissance", "en": "Audience growth rate"},
    "click_through_rate": {"fr": "Taux de clics", "en": "Click-through rate"},
    "interactions_per_post": {"fr": "Interactions par publication", "en": "Interactions per post"},
}
RATES = frozenset(
    {
        "engagement_rate_reach",
        "engagement_rate_followers",
        "audience_growth_rate",
        "click_through_rate",
    }
)
SIGNED = frozenset({"audience_growth"})
DECIMALS = frozenset({"interactions_per_post"})

# What each reporting line is shown first (docs/reports-by-email.md), and the figure its
# chart compares per network.
LINE_FIGURES: dict[str, tuple[str, ...]] = {
    "marketing": (
        "link_clicks",
        "click_through_rate",
        "interactions",
        "engagement_rate_reach",
        "posts",
    ),
    "communication": (
        "reach",
        "audience_growth",
        "followers",
        "engagement_rate_reach",
        "interactions",
    ),
    "press_relations": ("impressions", "reach", "video_views", "shares", "posts"),
    "management": (
        "reach",
        "interactions",
        "engagement_rate_reach",
        "audience_growth",
        "link_clicks",
        "posts",
    ),
}
LINE_CHART = {
    "marketing": "interactions",
    "communication": "reach",
    "press_relations": "impressions",
    "management": "interactions",
}
LINES = {
    "marketing": {"fr": "Marketing", "en": "Marketing"},
    "communication": {"fr": "Communication", "en": "Communication"},
    "press_relations": {"fr": "Relations presse", "en": "Press relations"},
    "management": {"fr": "Direction générale", "en": "General management"},
}
NETWORKS = {
    "x": "X",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "youtube": "YouTube",
    "pinterest": "Pinterest",
    "tiktok": "TikTok",
    "threads": "Threads",
    "bluesky": "Bluesky",
    "mastodon": "Mastodon",
}

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "Rapport {brand} : {period}",
        "title": "Rapport de {brand}",
        "line": "Ligne de reporting",
        "period": "Période",
        "previous": "Période précédente",
        "figure": "Indicateur",
        "this_period": "Cette période",
        "before": "Avant",
        "change": "Évolution",
        "per_network": "Par réseau",
        "network": "Réseau",
        "best_posts": "Meilleures publications",
        "post": "Publication",
        "no_posts": "Aucune publication sur la période.",
        "gaps": "Jours non mesurés",
        "comments": "Commentaires : temps de première réponse",
        "all_networks": "Tous réseaux",
        "answered": "Répondus",
        "median_response": "Médiane",
        "p90_response": "90e centile",
        "within_sla": "Dans le délai",
        "tone_note": "Tonalité : {positive} positifs, {neutral} neutres, {negative} négatifs.",
        "gaps_note": "Ces jours-là, le compte n'a pas pu être lu : ses chiffres manquent, "
        "ils ne valent pas zéro.",
        "not_available": "n.d.",
        "not_available_note": "n.d. : non disponible (le réseau ne fournit pas ce chiffre).",
        "pdf_note": "Le rapport complet est joint en PDF.",
        "greeting": "Bonjour {name},",
        "greeting_anonymous": "Bonjour,",
        "intro": "voici le rapport de {brand} pour la période du {period}.",
        "why": "Vous recevez ce rapport ({schedule}) envoyé par {agency}.",
        "unsubscribe": "Se désabonner",
        "chart_by_network": "{figure} par réseau",
        "chart_best": "Interactions des meilleures publications",
        "generated": "Chiffres lus le {when}",
        "file": "rapport",
    },
    "en": {
        "subject": "{brand} report: {period}",
        "title": "{brand} report",
        "line": "Reporting line",
        "period": "Period",
        "previous": "Previous period",
        "figure": "Figure",
        "this_period": "This period",
        "before": "Before",
        "change": "Change",
        "per_network": "Per network",
        "network": "Network",
        "best_posts": "Best posts",
        "post": "Post",
        "no_posts": "No posts in this period.",
        "gaps": "Days not measured",
        "comments": "Comments: first-response time",
        "all_networks": "All networks",
        "answered": "Answered",
        "median_response": "Median",
        "p90_response": "90th percentile",
        "within_sla": "Within the SLA",
        "tone_note": "Tone: {positive} positive, {neutral} neutral, {negative} negative.",
        "gaps_note": "On these days the account could not be read: its figures are missing, "
        "not zero.",
        "not_available": "n/a",
        "not_available_note": "n/a: not available (the network does not give this figure).",
        "pdf_note": "The full report is attached as a PDF.",
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "intro": "here is the {brand} report for {period}.",
        "why": "You receive this report ({schedule}) from {agency}.",
        "unsubscribe": "Unsubscribe",
        "chart_by_network": "{figure} per network",
        "chart_best": "Interactions of the best posts",
        "generated": "Figures read on {when}",
        "file": "report",
    },
}


def locale_of(value: str | None) -> str:
    return value if value in LOCALES else "fr"


def _plain(text: str) -> str:
    # CLDR's narrow no-break space (French thousands) is not in every font: a no-break space.
    return text.replace("\u202f", "\u00a0")


def figure(name: str, value: Any, locale: str) -> str:
    """A figure as the reader reads it ("n/a" when not available)."""
    if value is None:
        return WORDS[locale]["not_available"]
    if name in RATES:
        return _plain(
            format_percent(
                value, "#,##0.00\u00a0%" if locale == "fr" else "#,##0.00%", locale=locale
            )
        )
    if name in DECIMALS:
        return _plain(format_decimal(value, "#,##0.00", locale=locale))
    text = _plain(format_decimal(value, locale=locale))
    return f"+{text}" if name in SIGNED and value > 0 else text


def change(value: float | None, locale: str) -> str:
    if value is None:
        return "\u2013"  # an en dash: no base to compare with
    text = _plain(
        format_percent(value, "#,##0.0\u00a0%" if locale == "fr" else "#,##0.0%", locale=locale)
    )
    return f"+{text}" if value > 0 else text


def period(start: date, end: date, locale: str) -> str:
    return _plain(format_interval(start, end, "yMMMd", locale=locale))


def day(value: date, locale: str) -> str:
    return _plain(format_date(value, "medium", locale=locale))


def network(name: str) -> str:
    return NETWORKS.get(name, name.title())


def duration(seconds: float | None, locale: str) -> str:
    """A response time as the reader reads it ("15 minutes"), "n/a" when not available."""
    if seconds is None:
        return WORDS[locale]["not_available"]
    return format_timedelta(timedelta(seconds=seconds), threshold=1.5, locale=locale)
