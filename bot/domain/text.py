"""Cleaning text that comes from outside: what is kept of a message, a caption or a name.

Every text the bot did not write passes through here before it is stored or shown: typed
answers (``clean_text``), and names — Telegram display names, file names, the names in the
committee file (``clean_name``).
"""

from __future__ import annotations

import re
import unicodedata

# Format characters (Unicode category Cf: zero-width spaces and joiners, bidirectional marks,
# overrides and isolates, soft hyphens, invisible operators...) are invisible and can make a
# title look like something else, or like nothing at all. They are kept out of stored text,
# except where they hold an emoji together: the joiner in 👨‍👩‍👧 and the tags of 🏴󠁧󠁢󠁳󠁣󠁴󠁿.
_ZWJ = "\u200d"
_BLACK_FLAG = "\U0001f3f4"
_LINE_BREAKS = "\n\r\u2028\u2029"


def _is_tag(ch: str) -> bool:
    return "\U000e0020" <= ch <= "\U000e007f"


def _emoji_part(ch: str) -> bool:
    """An emoji, a skin-tone modifier or the emoji presentation selector."""
    return ch == "\ufe0f" or unicodedata.category(ch) in ("So", "Sk")


def _keep_format_char(ch: str, before: str, after: str) -> bool:
    if ch == _ZWJ:
        return bool(before) and bool(after) and _emoji_part(before) and _emoji_part(after)
    if _is_tag(ch):
        return before == _BLACK_FLAG or _is_tag(before)
    return False


def clean_text(value: str, *, multiline: bool) -> str:
    """Drop control, format and private-use characters; one-line fields lose their line
    breaks."""
    value = value.replace("\r\n", "\n")
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch in _LINE_BREAKS:
            out.append("\n" if multiline else " ")
            continue
        if ch == "\t":
            out.append(" ")
            continue
        category = unicodedata.category(ch)
        if category == "Cf":
            after = value[i + 1] if i + 1 < len(value) else ""
            if _keep_format_char(ch, out[-1] if out else "", after):
                out.append(ch)
            continue
        if category in ("Cc", "Cs", "Co"):
            continue
        out.append(ch)
    text = "".join(out)
    if multiline:
        lines = [line.rstrip() for line in text.split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = re.sub(r" {2,}", " ", text)
    return text.strip()


def clean_name(value: str | None, *, limit: int) -> str:
    """A name from outside, as the bot keeps it: one line, no invisible or control characters
    (a right-to-left override could make a name read as something else), at most ``limit``
    characters; "" when nothing visible is left."""
    return clean_text(value or "", multiline=False)[:limit].rstrip()
