"""Translations: gettext catalogs (Babel) for zh_CN and en, and the user's language.

English message ids live in code and templates; ``locales/zh_CN/LC_MESSAGES/messages.po``
carries the Chinese. The catalog is compiled in memory at start-up, so no build step is needed.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANG = "zh_CN"
LANGS: tuple[str, ...] = ("zh_CN", "en")


def N_(message: str) -> str:
    """Mark a message id for extraction; it is translated where it is shown."""
    return message


def normalise_lang(value: str | None) -> str:
    return value if value in LANGS else DEFAULT_LANG


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    po_path = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_for(lang: str, message: str) -> str:
    return translations(normalise_lang(lang)).gettext(message)
