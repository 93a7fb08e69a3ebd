"""The bot's texts and edits go as raw requests (``handlers.sending``): on the wire they must
be exactly what python-telegram-bot's own methods send, and only the message id comes back."""

from __future__ import annotations

import json
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.request import BaseRequest, RequestData

from handlers.common import keyboard
from handlers.sending import markup_json, post_markup, post_text, telegram_markup
from tests.fakes.request import decode_request_data


class Recorder(BaseRequest):
    """Records each request's endpoint and wire parameters; answers as Telegram would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_: Any
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = decode_request_data(request_data)
        self.sent.append((endpoint, params))
        result = {
            "message_id": 77,
            "date": 0,
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "text": params.get("text", ""),
        }
        return 200, json.dumps({"ok": True, "result": result}).encode()


MARKUP = keyboard(
    [
        [("延边中院", "f:abc.1:opt:YB-IPC"), ("抚松法院", "f:abc.1:opt:FS")],
        [],  # an empty row is left out
        [("📎 文件", "url:https://t.me/bot?start=c_12")],
        [("✖ 取消", "f:abc.1:cancel")],
    ]
)
# The same keyboard as python-telegram-bot's objects, for its own send methods.
TELEGRAM_MARKUP = MARKUP.markup()


def _bot(recorder: Recorder) -> Bot:
    return Bot("123:ABC", request=recorder, get_updates_request=recorder)


async def test_a_text_and_an_edit_are_the_requests_python_telegram_bot_makes() -> None:
    lean, usual = Recorder(), Recorder()
    assert await post_text(_bot(lean), 42, "<b>标题</b>：一行", MARKUP) == 77
    await _bot(usual).send_message(
        42,
        "<b>标题</b>：一行",
        parse_mode="HTML",
        reply_markup=TELEGRAM_MARKUP,
        disable_web_page_preview=True,
    )
    assert await post_text(_bot(lean), 42, "改后", None, message_id=5) == 77
    await _bot(usual).edit_message_text(
        "改后", chat_id=42, message_id=5, parse_mode="HTML", disable_web_page_preview=True
    )
    await post_markup(_bot(lean), 42, 5, None)
    await _bot(usual).edit_message_reply_markup(42, 5, reply_markup=None)
    await post_markup(_bot(lean), 42, 5, MARKUP)
    await _bot(usual).edit_message_reply_markup(42, 5, reply_markup=TELEGRAM_MARKUP)

    def decoded(sent: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        return [
            (
                e,
                {
                    k: json.loads(v) if k.endswith(("markup", "options")) else v
                    for k, v in p.items()
                },
            )
            for e, p in sent
        ]

    assert decoded(lean.sent) == decoded(usual.sent)
    assert [e for e, _ in lean.sent] == [
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageReplyMarkup",
    ]


def test_a_keyboard_of_other_buttons_is_written_by_python_telegram_bot() -> None:
    other = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("找", switch_inline_query_current_chat="")],
            [InlineKeyboardButton("好", callback_data="x")],
        ]
    )
    assert json.loads(markup_json(other)) == other.to_dict()
    assert json.loads(markup_json(MARKUP)) == TELEGRAM_MARKUP.to_dict()
    assert json.loads(markup_json(TELEGRAM_MARKUP)) == TELEGRAM_MARKUP.to_dict()
    assert len(TELEGRAM_MARKUP.inline_keyboard) == 3
    assert telegram_markup(MARKUP) == TELEGRAM_MARKUP
    assert telegram_markup(None) is None
