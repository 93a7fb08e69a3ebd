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
