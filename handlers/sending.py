"""The bot's own text messages and edits, sent without building python-telegram-bot's objects
of Telegram's answer.

``bot.send_message`` turns every answer into a ``Message`` (a hundred attributes, its
keyboard once more), which cost more CPU than everything else a send does on the bot's side;
the bot only ever needs the new message's id. These make the same requests through the same
rate limiter, raising the same errors.
"""

from __future__ import annotations

import json
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions

# Every text goes without a link preview: a matter's text may quote an address. Sent as the
# JSON python-telegram-bot would make of it.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True).to_json()


def markup_json(markup: InlineKeyboardMarkup) -> str:
    """A keyboard as the request's JSON. The bot's buttons carry callback data or a link
    (``handlers.common.keyboard``), written here directly: python-telegram-bot's generic
    ``to_dict`` walk cost more than building the keyboard. Anything else goes that way."""
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
    markup: InlineKeyboardMarkup | None = None,
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


async def post_markup(
    bot: Bot, chat_id: int, message_id: int, markup: InlineKeyboardMarkup | None
) -> None:
    """Replace a message's buttons (None: remove them); like ``post_text``, the answer is not
    turned into a ``Message``."""
    data: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id}
    if markup is not None:
        data["reply_markup"] = markup_json(markup)
    await bot._post("editMessageReplyMarkup", data)
