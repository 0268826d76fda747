"""Templates per locale: ``templates/<name>.<locale>.txt``, a ``subject`` and a ``body`` block.

Plain text only: the messages are short, and text is what every client shows the same way.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

LOCALES = ("fr", "en")
_DIR = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Text templates are not escaped (it would mangle names with "&" or "<"); HTML ones are.
    return Environment(
        loader=FileSystemLoader(_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    )


def render(name: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
    """The subject line and the body of template ``name`` in ``locale`` (French if unknown)."""
    template = _environment().get_template(f"{name}.{locale if locale in LOCALES else 'fr'}.txt")
    ctx = template.new_context(context)
    subject = "".join(template.blocks["subject"](ctx)).strip()
    body = "".join(template.blocks["body"](ctx)).strip() + "\n"
    return " ".join(subject.split()), body
