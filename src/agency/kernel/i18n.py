"""Messages in the caller's language: gettext catalogues, compiled with Babel.

The source says what it means in English; ``src/agency/locale/<lang>/LC_MESSAGES/agency.po``
says it in another language (French today). The ``.po`` files are the only copy kept: Babel
compiles one into a catalogue the first time its language is asked for, so a checkout runs and
tests without a build step. ``make messages`` extracts the strings marked below and updates
the catalogues; ``tests/api/test_i18n.py`` fails when a marked string has no translation.

Three markers, all read by Babel's extractor (``babel.cfg``'s keywords):

- :class:`Text` (``Text("No {noun} with id {id}.", noun=..., id=...)``): a message whose
  language is chosen when the answer is written, not when it is raised; its ``{names}`` are
  filled after translation, so a translator may move them;
- :class:`Plural` (``Plural("{n} field", "{n} fields", n, n=n)``): the same, with a plural;
- :func:`N_`: a constant to translate later (a problem's title), left as it is.

Which language: :func:`choose`: the person's own choice (``PUT /auth/me/locale``), else the
request's ``Accept-Language``, else the language the agency gave a client member on their
brand, else English.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("en", "fr")
DEFAULT_LOCALE = "en"
DOMAIN = "agency"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


def N_(message: str) -> str:
    return message


class Text:
    """A message translated when it is rendered, its ``{names}`` filled afterwards."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    def render(self, locale: str) -> str:
        return translate(locale, self.msgid).format(**self._params(locale))

    def _params(self, locale: str) -> dict[str, Any]:
        # A parameter may be a message itself (the name of a kind of object): same language.
        return {k: v.render(locale) if isinstance(v, Text) else v for k, v in self.params.items()}

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)

    def __repr__(self) -> str:
        return f"Text({self.msgid!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return (self.msgid, self.params) == (other.msgid, other.params)
        return str(self) == other

    def __hash__(self) -> int:
        return hash(self.msgid)


class Plural(Text):
    """A message with a singular and a plural, chosen by ``number`` in each language's rule
    (French says "1 champ", "0 champ"; English "0 fields")."""

    __slots__ = ("number", "plural")

    def __init__(self, singular: str, plural: str, number: int, **params: Any) -> None:
        super().__init__(singular, **params)
        self.plural = plural
        self.number = number

    def render(self, locale: str) -> str:
        found = catalogue(locale if locale in LOCALES else DEFAULT_LOCALE)
        return found.ngettext(self.msgid, self.plural, self.number).format(**self._params(locale))


Translatable = str | Text


def render(message: Translatable, locale: str) -> str:
    """A message in ``locale``: a :class:`Text` is translated, a plain string (a name, or a
    message no one marked yet) goes out as it is."""
    return message.render(locale) if isinstance(message, Text) else message


@lru_cache(maxsize=len(LOCALES))
def catalogue(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``locale`` (English is the source: no catalogue)."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == DEFAULT_LOCALE or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        compiled = read_po(source, locale=locale, domain=DOMAIN)
    mo = BytesIO()
    # Fuzzy entries are guesses a translator has not confirmed: they stay in English.
    write_mo(mo, compiled, use_fuzzy=False)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def translate(locale: str, message: str) -> str:
    return catalogue(locale if locale in LOCALES else DEFAULT_LOCALE).gettext(message)


def accepted(header: str | None) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (``q=0`` left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if tag and tag != "*" and quality > 0 and len(tag) <= 35:
            ranked.append((-quality, position, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(header: str | None) -> str | None:
    """Which of our languages the ``Accept-Language`` header prefers, if any."""
    found = negotiate_locale(accepted(header), LOCALES, sep="_")
    return str(found).split("_")[0] if found else None


def choose(accept_language: str | None, chosen: str | None, given: str | None = None) -> str:
    """The language to answer in: the person's ``chosen`` one, else the header's, else the
    one ``given`` to them (a client member's, by the agency), else English."""
    for candidate in (chosen, negotiate(accept_language), given):
        if candidate in LOCALES:
            return candidate
    return DEFAULT_LOCALE
