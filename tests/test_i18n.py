"""Every message the code and templates use has a Chinese translation with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def used_msgids() -> set[str]:
    method_map = [
        ("bot/**.py", "python"),
        ("handlers/**.py", "python"),
        ("templates/**.html", "jinja2"),
    ]
    options = {
        "templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "True",
            "lstrip_blocks": "True",
        }
    }
    found: set[str] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT),
        method_map,
        options,
        keywords={
            "_": None,
            "gettext": None,
            "ngettext": (1, 2),
            "t": (2,),
            "tn": (2, 3),
            "tr_n": (1, 2),
            "N_": None,
        },
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_is_translated() -> None:
    with (ROOT / "locales/zh_CN/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    used = used_msgids()
    assert len(used) > 150
    missing = sorted(m for m in used if m not in catalog or not catalog[m].string)
    assert missing == []
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert fuzzy == []
    for message in catalog:
        if message.id:
            # A plural entry has its forms as tuples: every form takes the same placeholders.
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for text in (*ids, *strings):
                assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(ids[0])), ids[0]


def test_the_catalog_compiles_as_babel_compiles_it() -> None:
    """The bot compiles the .po itself (no Babel at start-up): every message, plural form and
    the header read exactly as Babel's compilation of the same file reads them."""
    import gettext
    from io import BytesIO

    from babel.messages.mofile import write_mo

    from bot.i18n import LOCALES_DIR, translations

    po_path = LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    babel_compiled = gettext.GNUTranslations(buf)
    ours = translations("zh_CN")
    assert isinstance(ours, gettext.GNUTranslations)
    assert ours._catalog == babel_compiled._catalog  # type: ignore[attr-defined]
    assert len(ours._catalog) > 800  # type: ignore[attr-defined]
    assert ours.ngettext("%(n)s day", "%(n)s days", 5) == "%(n)s天"
    assert ours.gettext("Closed") == "已办结"


def test_the_catalog_compiler_reads_what_po_files_hold() -> None:
    """Escapes, strings continued over lines, contexts and plural forms are read; fuzzy,
    obsolete and untranslated entries are left out, as msgfmt leaves them."""
    import gettext
    from io import BytesIO

    from bot.i18n import compile_po

    text = r"""msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: a.py:1
#, python-format
msgid "Say \"%(x)s\"\n"
"twice"
msgstr "说「%(x)s」\n"
"两次\\"

#, fuzzy
msgid "Guessed"
msgstr "猜的"

msgid "Untranslated"
msgstr ""

#~ msgid "Gone"
#~ msgstr "没了"

msgctxt "button"
msgid "Open"
msgstr "打开"

msgid "%(n)s day"
msgid_plural "%(n)s days"
msgstr[0] "%(n)s 天"
msgstr[1] "%(n)s 天们"
"""
    read = gettext.GNUTranslations(BytesIO(compile_po(text)))
    assert read.gettext('Say "%(x)s"\ntwice') == "说「%(x)s」\n两次\\"
    assert read.gettext("Guessed") == "Guessed"
    assert read.gettext("Untranslated") == "Untranslated"
    assert read.gettext("Gone") == "Gone"
    assert read.pgettext("button", "Open") == "打开"
    assert read.gettext("Open") == "Open"
    assert read.ngettext("%(n)s day", "%(n)s days", 1) == "%(n)s 天"
    assert read.ngettext("%(n)s day", "%(n)s days", 3) == "%(n)s 天们"
