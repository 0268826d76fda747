"""A report e-mail's content: one *edition* per language (charts and PDF drawn once), then a
*letter* per recipient (their name and their own unsubscribe link).

The edition is CPU work (two charts, one PDF: tens of milliseconds); the worker runs it in a
thread so its event loop keeps serving other jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agency.mail.composing import Attachment, InlineImage
from agency.report_mail import wording
from agency.report_mail.charts import Bar, bar_chart
from agency.report_mail.document import PdfContent, Section, render_pdf
from agency.reporting.schemas import BrandReport, PostOut

_DIR = Path(__file__).parent / "templates"
CHART_CIDS = ("chart-networks@report", "chart-posts@report")
LOGO_CID = "logo@report"


@dataclass(frozen=True)
class Branding:
    agency_name: str
    sender: str  # the whole From header
    reply_to: str | None = None
    subjects: Mapping[str, str] = field(default_factory=dict)
    footers: Mapping[str, str] = field(default_factory=dict)
    accent: str = "#1F4E79"
    logo_png: bytes | None = None


@dataclass(frozen=True)
class Edition:
    locale: str
    subject: str
    images: tuple[InlineImage, ...]
    pdf: Attachment
    context: Mapping[str, Any]


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def subject_line(template: str | None, locale: str, brand: str, period: str, agency: str) -> str:
    """The subject, from the agency's template: only {brand}, {period} and {agency} are
    replaced (a template is text, not code)."""
    text = template or wording.WORDS[locale]["subject"]
    for name, value in (("{brand}", brand), ("{period}", period), ("{agency}", agency)):
        text = text.replace(name, value)
    return " ".join(text.split())[:300]


def edition(report: BrandReport, locale: str, branding: Branding, schedule: str) -> Edition:
    """Everything of one language's e-mail that does not depend on the recipient."""
    words = wording.WORDS[locale]
    line = report.line if report.line in wording.LINE_FIGURES else "management"
    period = wording.period(report.period.start, report.period.end, locale)
    previous = wording.period(report.previous_period.start, report.previous_period.end, locale)
    current, before = msg_dict(report.current), msg_dict(report.previous)
    headline = [
        (
            wording.FIGURES[name][locale],
            wording.figure(name, current[name], locale),
            wording.change(report.change.get(name), locale),
        )
        for name in wording.LINE_FIGURES[line]
    ]
    all_figures = [
        [
            wording.FIGURES[name][locale],
            wording.figure(name, current.get(name), locale),
            wording.figure(name, before.get(name), locale),
            wording.change(report.change.get(name), locale),
        ]
        for name in wording.FIGURES
    ]
    charted = wording.LINE_CHART[line]
    networks = [
        [
            wording.network(n.network),
            wording.figure(charted, msg_dict(n.current)[charted], locale),
            wording.figure("interactions", n.current.interactions, locale),
            wording.figure(
                "engagement_rate_reach"
                if n.engagement_basis == "reach"
                else "engagement_rate_followers",
                n.engagement_rate,
                locale,
            ),
        ]
        for n in report.networks
    ]
    posts = [_post_row(p, locale) for p in report.best_posts]
    gaps = [[str(g.channel_id)[:8], wording.day(g.day, locale), g.reason] for g in report.gaps]
    network_chart = bar_chart(
        words["chart_by_network"].format(figure=wording.FIGURES[charted][locale]),
        [
            Bar(
                wording.network(n.network),
                msg_dict(n.current)[charted],
                wording.figure(charted, msg_dict(n.current)[charted], locale),
                msg_dict(n.previous)[charted],
            )
            for n in report.networks
        ],
        branding.accent,
        legend=(f"{words['this_period']} ({period})", f"{words['before']} ({previous})"),
    )
    posts_chart = bar_chart(
        words["chart_best"],
        [
            Bar(
                p.title or wording.network(p.network),
                p.interactions,
                wording.figure("interactions", p.interactions, locale),
            )
            for p in report.best_posts
        ],
        branding.accent,
    )
    charts = (network_chart, posts_chart)
    title = words["title"].format(brand=report.brand_name)
    line_name = wording.LINES.get(report.line, {}).get(locale, report.line)
    footer = branding.footers.get(locale) or branding.agency_name
    network_header = [
        words["network"],
        wording.FIGURES[charted][locale],
        wording.FIGURES["interactions"][locale],
        wording.FIGURES["engagement_rate_reach"][locale].split(" (")[0],
    ]
    post_header = [
        words["post"],
        words["network"],
        wording.FIGURES["interactions"][locale],
        wording.FIGURES["reach"][locale],
    ]
    sections = [
        Section(
            words["figure"],
            [words["figure"], words["this_period"], words["before"], words["change"]],
            all_figures,
            words["not_available_note"],
        ),
        Section(words["per_network"], network_header, networks),
        Section(words["best_posts"], post_header, posts or [[words["no_posts"], "", "", ""]]),
    ]
    if gaps:
        sections.append(Section(words["gaps"], ["", words["period"], ""], gaps, words["gaps_note"]))
    comments = _comments_section(report, locale)
    if comments is not None:
        sections.append(comments)
    generated = wording.day(report.generated_at.date(), locale)
    pdf = render_pdf(
        PdfContent(
            title=title,
            subtitle=f"{words['period']}: {period} · {words['line']}: {line_name} · "
            f"{words['previous']}: {previous}",
            author=branding.agency_name,
            accent=branding.accent,
            headline=headline,
            charts=charts,
            sections=sections,
            footer=f"{footer} · {words['generated'].format(when=generated)}",
            logo_png=branding.logo_png,
        )
    )
    images = tuple(InlineImage(cid, png) for cid, png in zip(CHART_CIDS, charts, strict=True))
    if branding.logo_png:
        images += (InlineImage(LOGO_CID, branding.logo_png),)
    filename = f"{words['file']}-{report.period.start}-{report.period.end}.pdf"
    return Edition(
        locale=locale,
        subject=subject_line(
            branding.subjects.get(locale), locale, report.brand_name, period, branding.agency_name
        ),
        images=images,
        pdf=Attachment(filename, pdf),
        context={
            "w": words,
            "title": title,
            "brand": report.brand_name,
            "agency": branding.agency_name,
            "schedule": schedule,
            "period": period,
            "previous": previous,
            "line": line_name,
            "headline": headline,
            "figures": all_figures,
            "network_header": network_header,
            "networks": networks,
            "posts": posts,
            "gaps": gaps,
            "footer": footer,
            "accent": branding.accent,
            "chart_cids": CHART_CIDS,
            "logo_cid": LOGO_CID if branding.logo_png else None,
            "locale": locale,
        },
    )


def letter(edition: Edition, name: str | None, unsubscribe_url: str) -> tuple[str, str]:
    """The HTML and plain-text bodies for one recipient."""
    words = edition.context["w"]
    greeting = words["greeting"].format(name=name) if name else words["greeting_anonymous"]
    context = {**edition.context, "greeting": greeting, "unsubscribe_url": unsubscribe_url}
    env = _environment()
    html = env.get_template("report.html").render(context)
    text = env.get_template("report.txt").render(context)
    return html, text


def _comments_section(report: BrandReport, locale: str) -> Section | None:
    """The comments' tone and first-response times (communication), when the inbox reads
    the brand's channels."""
    found = report.lines.communication
    if found.comment_tone is None or found.comment_response is None:
        return None
    words = wording.WORDS[locale]
    rows = []
    for item in (found.comment_response, *found.comment_response_by_network):
        rows.append(
            [
                wording.NETWORKS.get(item.network or "", item.network or words["all_networks"]),
                f"{item.answered} / {item.messages}",
                wording.duration(item.median_seconds, locale),
                wording.duration(item.p90_seconds, locale),
                wording.figure("engagement_rate_reach", item.within_sla, locale),
            ]
        )
    header = [
        words["network"],
        words["answered"],
        words["median_response"],
        words["p90_response"],
        words["within_sla"],
    ]
    tone = found.comment_tone
    note = words["tone_note"].format(
        positive=tone.positive, neutral=tone.neutral, negative=tone.negative
    )
    return Section(words["comments"], header, rows, note)


def msg_dict(figures: Any) -> dict[str, Any]:
    return {name: getattr(figures, name) for name in wording.FIGURES}


def _post_row(post: PostOut, locale: str) -> list[str]:
    return [
        post.title or "\u2014",
        wording.network(post.network),
        wording.figure("interactions", post.interactions, locale),
        wording.figure("reach", post.reach, locale),
    ]
