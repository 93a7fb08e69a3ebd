"""Translations: gettext catalogs for zh_CN and en, and the user's language.

English message ids live in code and templates; ``locales/zh_CN/LC_MESSAGES/messages.po``
carries the Chinese. The catalog is compiled in memory on first use, so no build step is
needed; the compiler is a few lines of our own rather than Babel's catalog reader, which
would put Babel and its locale data on the way to the bot's first answer (a tenth of a
second).
"""

from __future__ import annotations

import gettext
import re
import struct
from functools import cache
from io import BytesIO
from pathlib import Path

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
    return gettext.GNUTranslations(BytesIO(compile_po(po_path.read_text("utf-8"))))


def gettext_for(lang: str, message: str) -> str:
    return translations(normalise_lang(lang)).gettext(message)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")
_KEYWORD = re.compile(r"(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")\s*$")


def _unquote(quoted: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), quoted.strip()[1:-1])


def parse_po(text: str) -> dict[str, str]:
    """A .po file's translated messages as the keys and values of a .mo file: the context
    and ``\\x04`` before an id that has one, ``\\x00`` between plural forms. Fuzzy,
    obsolete and untranslated entries are left out, as ``msgfmt`` (and Babel) leave them."""
    messages: dict[str, str] = {}
    fields: dict[str, str] = {}
    fuzzy = False
    current: str | None = None

    def flush() -> None:
        if "msgid" in fields:
            msgid = fields["msgid"]
            if "msgctxt" in fields:
                msgid = f"{fields['msgctxt']}\x04{msgid}"
            if "msgid_plural" in fields:
                msgid = f"{msgid}\x00{fields['msgid_plural']}"
                forms = sorted((k for k in fields if k.startswith("msgstr[")), key=_form_index)
                msgstr = "\x00".join(fields[k] for k in forms)
                translated = any(fields[k] for k in forms)
            else:
                msgstr = fields.get("msgstr", "")
                translated = bool(msgstr)
            # The header (the empty id) is kept fuzzy or not, as it carries the plural rule.
            if translated and (not fuzzy or msgid == ""):
                messages[msgid] = msgstr
        fields.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if line.startswith("#,"):
                if fields:  # a comment after an entry starts the next one
                    flush()
                    fuzzy = False
                fuzzy = fuzzy or "fuzzy" in (flag.strip() for flag in line[2:].split(","))
            continue
        match = _KEYWORD.match(line)
        if match is not None:
            keyword = match.group(1)
            if keyword in ("msgctxt", "msgid") and "msgid" in fields:
                flush()
                fuzzy = False
            current = keyword
            fields[keyword] = _unquote(match.group(2))
        elif line.startswith('"') and current is not None:
            fields[current] += _unquote(line)
        else:
            raise ValueError(f"unreadable line in a message catalog: {raw!r}")
    flush()
    return messages


def _form_index(key: str) -> int:
    return int(key[len("msgstr[") : -1])


def compile_po(text: str) -> bytes:
    """A .po file's text as the bytes of a .mo file (GNU gettext's format, little-endian,
    ids sorted), which ``gettext.GNUTranslations`` reads."""
    messages = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in parse_po(text).items())
    count = len(messages)
    ids_at = 7 * 4
    strs_at = ids_at + count * 8
    data_at = strs_at + count * 8
    offsets: list[int] = []
    blob = BytesIO()
    for key, _ in messages:
        offsets += [len(key), data_at + blob.tell()]
        blob.write(key + b"\x00")
    for _, value in messages:
        offsets += [len(value), data_at + blob.tell()]
        blob.write(value + b"\x00")
    header = struct.pack("<7I", 0x950412DE, 0, count, ids_at, strs_at, 0, 0)
    return header + struct.pack(f"<{4 * count}I", *offsets) + blob.getvalue()
