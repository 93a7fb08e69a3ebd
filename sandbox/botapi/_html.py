"""Telegram's HTML parse mode, re-implemented so tests fail where Telegram would.

The rules follow the Bot API "HTML style" section and the behaviour of Telegram's
own parser (tag names case-insensitive, attribute values quoted or bare, ``</>``
closes the innermost tag, entity offsets in UTF-16 code units).
"""

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HtmlParseError", "parse_html", "trim_formatted", "utf16_len"]

JSON = dict[str, Any]

_ALLOWED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip
_SIMPLE_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Telegram's tokenizer treats NUL (our end-of-input sentinel) as a space too.
_SPACES = frozenset(" \t\r\n\v\f\0")
_TRIM = " \t\r\n\v\f"
_LINK_SCHEMES = frozenset({"http", "https", "tg", "ton", "tonsite"})
_NAMED_REF = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")


class HtmlParseError(ValueError):
    """The reason Telegram gives after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram offset and limit."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str
    expandable: bool
    offset: int
    text_start: int


@dataclass
class _State:
    source: str
    strict_entities: bool
    out: list[str] = field(default_factory=list)
    out_len: int = 0  # code points emitted so far, to slice the text of <a> without href
    u16: int = 0
    pos: int = 0

    def at(self, index: int) -> str:
        return self.source[index] if index < len(self.source) else "\0"

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode())

    def emit(self, chars: str) -> None:
        self.out.append(chars)
        self.out_len += len(chars)
        self.u16 += utf16_len(chars)


def _decode_reference(source: str, start: int) -> tuple[str | None, int]:
    """Decode ``&...`` at ``start`` like Telegram: unknown references stay literal text."""
    end = start + 1
    n = len(source)
    if end < n and source[end] == "#":
        end += 1
        value = 0
        if end < n and source[end] in "xX":
            end += 1
            digits = "0123456789abcdefABCDEF"
            base = 16
        else:
            digits = "0123456789"
            base = 10
        while end < n and source[end] in digits:
            value = value * base + int(source[end], 16)
            end += 1
            if value >= 0x10FFFF:
                return None, start
        if value == 0 or end - start >= 10 or 0xD800 <= value <= 0xDFFF:
            return None, start
        char = chr(value)
    else:
        while end < n and source[end].isascii() and source[end].isalpha():
            end += 1
        decoded = _NAMED_ENTITIES.get(source[start + 1 : end])
        if decoded is None:
            return None, start
        char = decoded
    if end < n and source[end] == ";":
        end += 1
    return char, end


def _normalize_link(url: str) -> str | None:
    """Return the URL Telegram would keep for a text link, or None when it drops the entity."""
    url = url.strip()
    if not url:
        return None
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if match:
        return url if match.group(1).lower() in _LINK_SCHEMES else None
    if "." in url and " " not in url:
        return "http://" + url
    return None


def _read_attribute_value(state: _State) -> str:
    source = state.source
    quote = source[state.pos]
    if quote not in "'\"":
        begin = state.pos
        while state.at(state.pos).isascii() and (
            state.at(state.pos).isalnum() or state.at(state.pos) in ".-"
        ):
            state.pos += 1
        if state.at(state.pos) not in _SPACES and state.at(state.pos) != ">":
            raise HtmlParseError(
                f"Unexpected end of name token at byte offset {state.byte_offset(begin)}"
            )
        return source[begin : state.pos].lower()
    state.pos += 1
    chars: list[str] = []
    while state.pos < len(source) and source[state.pos] != quote:
        if source[state.pos] == "&":
            decoded, end = _decode_reference(source, state.pos)
            if decoded is not None:
                chars.append(decoded)
                state.pos = end
                continue
        chars.append(source[state.pos])
        state.pos += 1
    if state.at(state.pos) == quote:
        state.pos += 1
    return "".join(chars)


def _open_tag(state: _State, stack: list[_OpenTag]) -> None:
    begin = state.pos
    state.pos += 1
    while state.at(state.pos) not in _SPACES and state.at(state.pos) != ">":
        state.pos += 1
    offset = state.byte_offset(begin)
    if state.pos >= len(state.source):
        raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
    tag = state.source[begin + 1 : state.pos].lower()
    if tag not in _ALLOWED_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
    argument = ""
    expandable = False
    while state.at(state.pos) != ">":
        while state.pos < len(state.source) and state.source[state.pos] in _SPACES:
            state.pos += 1
        if state.at(state.pos) == ">":
            break
        name_begin = state.pos
        while state.at(state.pos) not in _SPACES and state.at(state.pos) not in "=>/\"'":
            state.pos += 1
        name = state.source[name_begin : state.pos].lower()
        if not name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
        while state.pos < len(state.source) and state.source[state.pos] in _SPACES:
            state.pos += 1
        if state.at(state.pos) != "=":
            if state.pos >= len(state.source):
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if tag == "blockquote" and name == "expandable":
                expandable = True
            continue
        state.pos += 1
        while state.pos < len(state.source) and state.source[state.pos] in _SPACES:
            state.pos += 1
        if state.pos >= len(state.source):
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
        value = _read_attribute_value(state)
        if state.pos >= len(state.source):
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
        if (tag, name) in (("a", "href"), ("tg-emoji", "emoji-id")):
            argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            argument = value.removeprefix("language-")
        elif tag == "span" and name == "class" and value.startswith("tg-"):
            argument = value.removeprefix("tg-")
        elif tag == "blockquote" and name == "expandable":
            expandable = True
    if tag == "span" and argument != "spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    state.pos += 1  # the '>'
    stack.append(_OpenTag(tag, argument, expandable, state.u16, state.out_len))


def _close_tag(state: _State, stack: list[_OpenTag], entities: list[JSON]) -> None:
    begin = state.pos
    offset = state.byte_offset(begin)
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
    state.pos += 2  # '</'
    name_begin = state.pos
    while state.at(state.pos) not in _SPACES and state.at(state.pos) != ">":
        state.pos += 1
    end_name = state.source[name_begin : state.pos]
    while state.pos < len(state.source) and state.source[state.pos] in _SPACES:
        state.pos += 1
    if state.at(state.pos) != ">":
        raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
    state.pos += 1
    top = stack.pop()
    if end_name and end_name.lower() != top.name:
        raise HtmlParseError(
            f'Unmatched end tag at byte offset {offset}, expected "</{top.name}>", '
            f'found "</{end_name}>"'
        )
    length = state.u16 - top.offset
    if length <= 0:
        return
    entity: JSON = {"offset": top.offset, "length": length}
    if top.name in _SIMPLE_TYPES:
        entity["type"] = _SIMPLE_TYPES[top.name]
    elif top.name == "a":
        url = top.argument or "".join(state.out)[top.text_start :]
        normalized = _normalize_link(url)
        if normalized is None:
            return
        entity.update(type="text_link", url=normalized)
    elif top.name == "code":
        last = entities[-1] if entities else None
        if (
            last
            and last["type"] == "pre"
            and (last["offset"], last["length"])
            == (
                top.offset,
                length,
            )
        ):
            if top.argument:
                last["language"] = top.argument
            return
        entity["type"] = "code"
        if top.argument:
            entity["_language"] = top.argument
    elif top.name == "pre":
        last = entities[-1] if entities else None
        if (
            last
            and last["type"] == "code"
            and (last["offset"], last["length"])
            == (
                top.offset,
                length,
            )
        ):
            language = last.pop("_language", None)
            last["type"] = "pre"
            if language:
                last["language"] = language
            return
        entity["type"] = "pre"
    elif top.name == "tg-emoji":
        if not top.argument.isdigit():
            return
        entity.update(type="custom_emoji", custom_emoji_id=top.argument)
    else:  # blockquote
        entity["type"] = "expandable_blockquote" if top.expandable else "blockquote"
    entities.append(entity)


def parse_html(source: str, *, strict_entities: bool = True) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML into plain text and Bot API entity dicts.

    With ``strict_entities`` an unknown named reference such as ``&nbsp;`` is an error.
    Telegram itself would show it literally, which is a bug a user would see, so the
    fake rejects it (the reason says so).
    """
    state = _State(source, strict_entities)
    stack: list[_OpenTag] = []
    entities: list[JSON] = []
    while state.pos < len(source):
        char = source[state.pos]
        if char == "&":
            decoded, end = _decode_reference(source, state.pos)
            if decoded is not None:
                state.emit(decoded)
                state.pos = end
                continue
            named = _NAMED_REF.match(source, state.pos)
            if strict_entities and named:
                raise HtmlParseError(
                    f'Unsupported HTML entity "{named.group(0)}" at byte offset '
                    f"{state.byte_offset(state.pos)} (Telegram would show it literally; "
                    "only &lt; &gt; &amp; &quot; and numeric references are supported)"
                )
        if char != "<":
            state.emit(char)
            state.pos += 1
            continue
        if state.at(state.pos + 1) == "/":
            _close_tag(state, stack, entities)
        else:
            _open_tag(state, stack)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    for entity in entities:
        entity.pop("_language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(state.out), entities


def trim_formatted(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Strip surrounding whitespace as Telegram does, clipping entities to what remains."""
    stripped = text.strip(_TRIM)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
    size = utf16_len(stripped)
    kept: list[JSON] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept
