"""Telegram messages as the web chat shows them: text and entities back to a small, safe HTML.

The local Bot API has already parsed the bot's HTML as Telegram does (``sandbox.botapi._html``)
into plain text and entities; here the entities become tags again, and everything else is
escaped, so nothing the bot (or a user) writes can inject markup into the page.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

JSON = dict[str, Any]

_TAGS = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
    "spoiler": "span",
    "text_link": "a",
    "url": "a",
}
_SCHEMES = frozenset({"http", "https", "tg"})


def _safe_href(url: str) -> str | None:
    return url if urlsplit(url).scheme.lower() in _SCHEMES else None


def _utf16_index(text: str) -> list[int]:
    """For each UTF-16 offset, the index in ``text`` (offsets inside a pair map forward)."""
    index: list[int] = []
    for position, char in enumerate(text):
        index.extend([position] * (2 if ord(char) > 0xFFFF else 1))
    index.append(len(text))
    return index


def _open(entity: JSON, text: str) -> str:
    kind = entity["type"]
    tag = _TAGS[kind]
    if kind == "spoiler":
        return '<span class="spoiler">'
    if tag == "a":
        href = _safe_href(str(entity.get("url") or text))
        if href is None:
            return "<a>"
        return f'<a href="{html.escape(href)}" target="_blank" rel="noopener noreferrer">'
    return f"<{tag}>"


def to_html(text: str, entities: list[JSON] | None = None) -> str:
    """``text`` with the supported ``entities`` as b, i, u, s, a, code, pre, blockquote, and
    a spoiler span; other entity types (mentions, hashtags, commands) stay plain text."""
    index = _utf16_index(text)
    spans: list[tuple[int, int, JSON]] = []
    for entity in entities or []:
        if entity.get("type") not in _TAGS:
            continue
        start = int(entity["offset"])
        end = start + int(entity["length"])
        if start < 0 or end <= start or end > len(index) - 1:
            continue
        spans.append((index[start], index[end], entity))
    # Outer entities first where they start together; Telegram's are nested, never crossed.
    spans.sort(key=lambda span: (span[0], -span[1]))
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (end, closing tag)
    position = 0
    pending = iter(spans)
    upcoming = next(pending, None)
    while position <= len(text):
        while stack and stack[-1][0] <= position:
            out.append(stack.pop()[1])
        while upcoming is not None and upcoming[0] == position:
            start, end, entity = upcoming
            out.append(_open(entity, text[start:end]))
            stack.append((end, f"</{_TAGS[entity['type']]}>"))
            upcoming = next(pending, None)
        if position == len(text):
            break
        stops = [end for end, _ in stack] + ([upcoming[0]] if upcoming is not None else [])
        following = min([stop for stop in stops if stop > position] or [len(text)])
        out.append(html.escape(text[position:following], quote=False))
        position = following
    while stack:
        out.append(stack.pop()[1])
    return "".join(out)
