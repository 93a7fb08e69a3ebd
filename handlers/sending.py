"""The bot's own text messages and edits, sent without building python-telegram-bot's objects
of Telegram's answer.

``bot.send_message`` turns every answer into a ``Message`` (a hundred attributes, its
keyboard once more), which cost more CPU than everything else a send does on the bot's side;
the bot only ever needs the new message's id. These make the same requests through the same
rate limiter, raising the same errors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions

# Every text goes without a link preview: a matter's text may quote an address. Sent as the
# JSON python-telegram-bot would make of it.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True).to_json()


class Keyboard:
    """The bot's own inline keyboard: rows of (label, data) pairs, data starting with
    ``url:`` being a link (``handlers.common.keyboard``).

    A question's keyboard only ever becomes the JSON of one request, so it is kept as the
    pairs and written straight from them (``markup_json``): building python-telegram-bot's
    frozen button objects cost more CPU than rendering the question's text. ``markup()``
    builds them where python-telegram-bot itself sends the keyboard (with a file or a
    photo)."""

    __slots__ = ("rows",)

    def __init__(self, rows: Sequence[Sequence[tuple[str, str]]]) -> None:
        self.rows: tuple[tuple[tuple[str, str], ...], ...] = tuple(
            tuple(row) for row in rows if row
        )

    def markup(self) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(label, url=data[4:])
                    if data.startswith("url:")
                    else InlineKeyboardButton(label, callback_data=data)
                    for label, data in row
                ]
                for row in self.rows
            ]
        )

    @property
    def inline_keyboard(self) -> tuple[tuple[InlineKeyboardButton, ...], ...]:
        """The buttons as python-telegram-bot's objects (for code that reads a markup)."""
        return self.markup().inline_keyboard

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyboard) and other.rows == self.rows

    def __hash__(self) -> int:
        return hash(self.rows)

    def __repr__(self) -> str:
        return f"Keyboard({self.rows!r})"


# What the bot sends as a message's buttons: its own keyboard, or python-telegram-bot's.
Markup = Keyboard | InlineKeyboardMarkup


def telegram_markup(markup: Markup | None) -> InlineKeyboardMarkup | None:
    """A keyboard for python-telegram-bot's own send methods."""
    return markup.markup() if isinstance(markup, Keyboard) else markup


def markup_json(markup: Markup) -> str:
    """A keyboard as the request's JSON. The bot's buttons carry callback data or a link,
    written here directly: python-telegram-bot's generic ``to_dict`` walk cost more than
    building the keyboard. Anything else goes that way."""
    if isinstance(markup, Keyboard):
        return json.dumps(
            {
                "inline_keyboard": [
                    [
                        {"text": label, "url": data[4:]}
                        if data.startswith("url:")
                        else {"text": label, "callback_data": data}
                        for label, data in row
                    ]
                    for row in markup.rows
                ]
            }
        )
    rows: list[list[dict[str, str]]] = []
    for row in markup.inline_keyboard:
        out: list[dict[str, str]] = []
        for button in row:
            data, url = button.callback_data, button.url
            if isinstance(data, str) and url is None:
                out.append({"text": button.text, "callback_data": data})
            elif url is not None and data is None:
                out.append({"text": button.text, "url": url})
            else:
                return markup.to_json()
        rows.append(out)
    return json.dumps({"inline_keyboard": rows})


async def post_text(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: Markup | None = None,
    *,
    message_id: int | None = None,
) -> int:
    """Send one HTML message (or edit message ``message_id`` into it); its message id.

    The same request as ``bot.send_message(..., parse_mode="HTML",
    disable_web_page_preview=True)`` through the same rate limiter and errors, without
    python-telegram-bot turning Telegram's answer into a ``Message``: the bot only needs the
    id, and building that object (a hundred attributes, its keyboard again) cost more CPU
    than the rest of the send on the bot's side."""
    data: dict[str, Any] = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": _NO_PREVIEW,
    }
    if message_id is not None:
        data["message_id"] = message_id
    if markup is not None:
        data["reply_markup"] = markup_json(markup)
    result = await bot._post("sendMessage" if message_id is None else "editMessageText", data)
    return int(result["message_id"]) if isinstance(result, dict) else int(message_id or 0)


async def post_markup(bot: Bot, chat_id: int, message_id: int, markup: Markup | None) -> None:
    """Replace a message's buttons (None: remove them); like ``post_text``, the answer is not
    turned into a ``Message``."""
    data: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id}
    if markup is not None:
        data["reply_markup"] = markup_json(markup)
    await bot._post("editMessageReplyMarkup", data)
