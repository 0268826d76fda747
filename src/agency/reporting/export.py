"""Every figure of a brand's report as CSV, in the brand's locale (fr or en).

One row per figure: ``section``, ``scope`` (the brand, a network, a channel, a campaign, a
post...), ``figure``, then ``current``, ``previous`` and ``change`` where the report compares
periods. The labels are in the brand's language; numbers use its decimal mark (Babel's
locale data, with no thousands separator so that a spreadsheet reads them as numbers); in
French the fields are separated by ``;``, as French spreadsheets expect. A figure that is
not available is an empty cell, never 0. Rates are fractions (0.045), as in the API.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import msgspec
from babel.numbers import format_decimal

from agency.reporting.schemas import BrandReport

COMPARED = ("current", "previous", "change")
RESPONSE_FR = {
    "messages": "attendant une réponse",
    "answered": "répondus",
    "median_seconds": "première réponse, médiane (s)",
    "p90_seconds": "première réponse, 90e centile (s)",
    "within_sla": "part répondue dans le délai (SLA)",
}
RESPONSE_EN = {
    "messages": "expecting an answer",
    "answered": "answered",
    "median_seconds": "median first response (s)",
    "p90_seconds": "90th percentile first response (s)",
    "within_sla": "answered within the SLA",
}
LABELS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "section": "rubrique",
        "scope": "périmètre",
        "figure": "indicateur",
        "current": "période",
        "previous": "période précédente",
        "change": "évolution",
        "total": "total",
        "networks": "réseaux",
        "channels": "comptes",
        "publishing": "publication",
        "campaigns": "campagnes",
        "best_posts": "meilleures publications",
        "worst_posts": "publications les moins engageantes",
        "gaps": "jours non mesurés",
        "lines.marketing": "marketing",
        "lines.communication": "communication",
        "lines.press_relations": "relations presse",
        "lines.management": "direction générale",
        "lines.communication.comment_response_by_network": "communication : réponse par réseau",
        "comment_tone.positive": "commentaires positifs",
        "comment_tone.neutral": "commentaires neutres",
        "comment_tone.negative": "commentaires négatifs",
        **RESPONSE_FR,
        **{f"comment_response.{k}": f"commentaires : {v}" for k, v in RESPONSE_FR.items()},
        "posts": "publications",
        "impressions": "impressions",
        "reach": "portée",
        "reactions": "réactions",
        "comments": "commentaires",
        "shares": "partages",
        "saves": "enregistrements",
        "link_clicks": "clics sur les liens",
        "video_views": "vues vidéo",
        "interactions": "interactions",
        "engagement_rate_reach": "taux d'engagement (portée)",
        "engagement_rate_followers": "taux d'engagement (abonnés)",
        "followers": "abonnés",
        "audience_growth": "croissance de l'audience",
        "audience_growth_rate": "taux de croissance de l'audience",
        "click_through_rate": "taux de clic",
        "interactions_per_post": "interactions par publication",
        "gap_days": "jours non mesurés",
        "regularity": "régularité",
        "posts_per_week": "publications par semaine",
        "slots_planned": "créneaux prévus",
        "slots_kept": "créneaux tenus",
        "longest_silence_days": "plus long silence (jours)",
        "roi": "ROI",
        "roa": "ROA",
        "roni": "RONI",
        "visits": "visites",
        "leads": "prospects",
        "sales": "ventes",
        "revenue": "chiffre d'affaires",
        "cost": "coût",
        "coverage_count": "retombées presse",
        "coverage_audience": "audience des retombées",
        "influencer_mentions": "mentions d'influenceurs",
    },
    "en": {
        "section": "section",
        "scope": "scope",
        "figure": "figure",
        "current": "period",
        "previous": "previous period",
        "change": "change",
        "total": "total",
        "lines.marketing": "marketing",
        "lines.communication": "communication",
        "lines.press_relations": "press relations",
        "lines.management": "general management",
        "lines.communication.comment_response_by_network": "communication: response per network",
        **RESPONSE_EN,
        **{f"comment_response.{k}": f"comments: {v}" for k, v in RESPONSE_EN.items()},
    },
}
# Keys that name an item rather than measure it: they make its scope.
NAMES = ("network", "name", "campaign", "utm_campaign", "title", "outlet", "kind", "channel_id")


def report_csv(report: BrandReport) -> str:
    locale = report.locale if report.locale in LABELS else "en"
    words = LABELS[locale]

    def label(key: str) -> str:
        return words.get(key, key.replace("_", " "))

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if locale == "fr" else ",", lineterminator="\r\n")
    writer.writerow([label(k) for k in ("section", "scope", "figure", *COMPARED)])
    data: dict[str, Any] = msgspec.to_builtins(report)
    for section, scope, figure, values in _rows(data, report.brand_name):
        writer.writerow([label(section), scope, label(figure), *(_cell(v, locale) for v in values)])
    return out.getvalue()


def _rows(data: dict[str, Any], brand: str) -> Iterator[tuple[str, str, str, list[Any]]]:
    yield from _compared("total", brand, data)
    for network in data["networks"]:
        yield from _compared("networks", network["network"], network)
        yield ("networks", network["network"], "engagement_rate", [network["engagement_rate"]])
        for channel in network["channels"]:
            scope = f"{channel['network']} · {channel['name']}"
            yield from _compared("channels", scope, channel)
            yield from _plain("channels", scope, channel["publishing"], "publishing.")
    yield from _plain("publishing", brand, data["publishing"])
    for key in ("campaigns", "best_posts", "worst_posts", "gaps"):
        for item in data[key]:
            yield from _plain(key, _scope(item, brand), item)
    for line, section in data["lines"].items():
        yield from _section(f"lines.{line}", brand, section)


def _compared(section: str, scope: str, item: dict[str, Any]) -> Iterator[Any]:
    for figure, value in item["current"].items():
        yield section, scope, figure, [value, item["previous"][figure], item["change"].get(figure)]


def _plain(section: str, scope: str, item: dict[str, Any], prefix: str = "") -> Iterator[Any]:
    for key, value in item.items():
        if key in NAMES or isinstance(value, list | dict):
            continue
        yield section, scope, prefix + key, [value]


def _section(section: str, brand: str, item: dict[str, Any]) -> Iterator[Any]:
    for key, value in item.items():
        if isinstance(value, dict):
            for inner, found in value.items():
                if not isinstance(found, list | dict):
                    yield section, brand, f"{key}.{inner}", [found]
        elif isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict):
                    yield from _plain(f"{section}.{key}", _scope(entry, brand), entry)
        else:
            yield section, brand, key, [value]


def _scope(item: Mapping[str, Any], brand: str) -> str:
    named = [str(item[k]) for k in NAMES if item.get(k) not in (None, "")]
    return " · ".join(named[:2]) if named else brand


def _cell(value: Any, locale: str) -> str:
    if value is None:
        return ""  # not available: never 0
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_decimal(value, format="0.######", locale=locale)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)
