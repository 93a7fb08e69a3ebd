"""The house style's typography rules for Chinese texts, as one checker the tests share.

``slips(text)`` returns every slip in one Chinese text (a zh msgstr, a template line, a
message the bot sent in zh) as ``(rule, excerpt)``, the slip marked ⟦ ⟧ in the excerpt. A text
without a Han ideograph is not checked (English messages may quote 受理 in brackets). The rules:

- **CJK** means a Han ideograph (U+3400–U+9FFF, U+F900–U+FAFF) or a full-width punctuation
  mark / form (U+3000–U+303F, U+FF00–U+FFEF: ，：；（）「」！？、。 …).
- **A placeholder** is ``%(name)s`` (catalog) or ``{{ … }}`` / ``{% … %}`` (template source):
  in our texts it stands for a name, a number, a date or an organisation, which Chinese writes
  tight against its neighbours.
- ``ascii-punct``: one of ASCII ``, : ; ( ) ! ?`` with a Han ideograph, a full-width mark or
  a placeholder directly before or after it ("受理:", "(长白山", "%(org)s)"). A colon between
  digits (10:42) or in a link (https://) is never next to CJK and passes.
- ``half-width-brackets``: ``( … )`` on one line whose content holds a Han ideograph or a
  placeholder, in a text that holds Chinese ("(%(org)s)" must be "（%(org)s）").
- ``quotes``: “ or ” in a Chinese text: Chinese quotes with 「」 (点击「完成」).
- ``space``: a space (U+0020, U+00A0 or U+3000) after ，：；、。！？ ("： 长白山"), before one of
  those or a closing mark such as ）」〕 ("已受理 。"), or between CJK and CJK or a placeholder
  ("赵法官 于", "%(name)s 受理", "）  已"). A space between Chinese and a Latin word, a digit,
  a /command, an emoji or a symbol is allowed ("✅ 受理", "使用 /case 查看", "PDF 文件",
  "成员（3） · 第1/1页"). Indentation at the start of a line is not checked.
"""

from __future__ import annotations

import re

HAN = r"\u3400-\u9fff\uf900-\ufaff"
FULL = r"\u3001-\u303f\uff00-\uffef"  # U+3000 (ideographic space) is a space, not a mark
CJK = HAN + FULL
SPACE = " \u00a0\u3000"
# A placeholder is replaced by a marker char in the private use area before checking, so
# that the rules see it as one character.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\{.*?\}\}|\{%.*?%\}")
MARK = "\ue000"

_ASCII_PUNCT = re.compile(rf"(?<=[{CJK}{MARK}])[,:;()!?]|[,:;()!?](?=[{CJK}{MARK}])")
_BRACKETS = re.compile(rf"\([^()\n]*[{HAN}{MARK}][^()\n]*\)")
STOPS = "，：；、。！？"  # marks after which Chinese never leaves a space
CLOSING = STOPS + "）」』〕】》"  # marks before which it never does
_SPACE_PUNCT = re.compile(rf"(?<=[{STOPS}])[{SPACE}]+|(?<=[^\n{SPACE}])[{SPACE}]+(?=[{CLOSING}])")
_SPACE_CJK = re.compile(
    rf"(?<=[{CJK}])[{SPACE}]+(?=[{CJK}{MARK}])|(?<=[{MARK}])[{SPACE}]+(?=[{CJK}])"
)
_QUOTES = re.compile(r"[“”]")
_HAS_HAN = re.compile(rf"[{HAN}]")


def _masked(text: str) -> str:
    return PLACEHOLDER.sub(MARK, text)


def slips(text: str) -> list[tuple[str, str]]:
    """Every slip in ``text`` as ``(rule, excerpt)``; the excerpt shows the slip in context,
    with placeholders shown as they are written."""
    if not _HAS_HAN.search(text):
        return []
    masked = _masked(text)
    found: list[tuple[int, int, str]] = []
    for match in _ASCII_PUNCT.finditer(masked):
        found.append((match.start(), match.end(), "ascii-punct"))
    for match in _BRACKETS.finditer(masked):
        found.append((match.start(), match.end(), "half-width-brackets"))
    for match in _QUOTES.finditer(masked):
        found.append((match.start(), match.end(), "quotes"))
    for match in _SPACE_PUNCT.finditer(masked):
        found.append((match.start(), match.end(), "space"))
    for match in _SPACE_CJK.finditer(masked):
        found.append((match.start(), match.end(), "space"))
    result: list[tuple[str, str]] = []
    seen: set[tuple[int, str]] = set()
    for start, end, rule in sorted(found):
        if (start, rule) in seen:
            continue
        seen.add((start, rule))
        result.append((rule, _excerpt(masked, start, end)))
    return result


def _excerpt(masked: str, start: int, end: int) -> str:
    left = masked[max(start - 8, 0) : start]
    mid = masked[start:end]
    right = masked[end : end + 8]
    shown = f"{left}⟦{mid}⟧{right}".replace("\n", "⏎")
    return shown.replace(MARK, "{…}")


# In a text for an English reader: a full-width mark beside a Latin letter, a digit or a space
# ("Title：", "（optional）") leaked from the Chinese side. Chinese inside English (a title, a
# number like 研判〔2026〕1号) keeps its own marks.
_FULL_IN_ENGLISH = re.compile(
    r"(?<=[A-Za-z0-9 ])[，：；（）！？「」。、]|[，：；（）！？「」。、](?=[A-Za-z0-9 ])"
)


def english_slips(text: str) -> list[tuple[str, str]]:
    """Every full-width mark misplaced in an English text, as ``(rule, excerpt)``."""
    masked = _masked(text)
    return [
        ("full-width-in-english", _excerpt(masked, m.start(), m.end()))
        for m in _FULL_IN_ENGLISH.finditer(masked)
    ]
