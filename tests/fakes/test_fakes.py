"""Self-tests: the fake must answer like Telegram, or the bot's tests prove nothing."""

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes.request import FakeRequest
from tests.fakes.server import TEST_TOKEN, FakeBotApiServer
from tests.fakes.telegram import BOT_ID, NOT_MODIFIED, QUERY_TOO_OLD, FakeTelegram, FakeUser

# PTB warns whenever it builds RetryAfter unless PTB_TIMEDELTA=1; not the fake's concern.
RETRY_AFTER_IS_INT = "ignore::telegram.warnings.PTBDeprecationWarning"
KEYBOARD = json.dumps({"inline_keyboard": [[{"text": "同意", "callback_data": "agree"}]]})


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(now=lambda: 1_750_000_000.0)


@pytest.fixture
def alice(fake: FakeTelegram) -> FakeUser:
    user = fake.user(1001, "Alice", "alice")
    fake.send_text(user, "/start")
    return user


@pytest.fixture
def server(fake: FakeTelegram) -> Iterator[FakeBotApiServer]:
    with FakeBotApiServer(fake) as running:
        yield running


def send(fake: FakeTelegram, chat_id: int | str, text: str, **params: str) -> tuple[int, dict]:
    return fake.handle("sendMessage", {"chat_id": str(chat_id), "text": text, **params})


def description(answer: tuple[int, dict]) -> str:
    return str(answer[1].get("description"))


# ---------------------------------------------------------------------- HTML and limits


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("a</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("金额&nbsp;100", 'Unsupported HTML entity "&nbsp;" at byte offset 6'),
    ],
)
def test_html_parse_errors(fake: FakeTelegram, alice: FakeUser, text: str, reason: str) -> None:
    status, body = send(fake, alice.id, text, parse_mode="HTML")
    assert status == 400
    assert body["error_code"] == 400
    assert body["description"].startswith(f"Bad Request: can't parse entities: {reason}")
    assert fake.messages_to(alice) == []


def test_html_entities_and_utf16_offsets(fake: FakeTelegram, alice: FakeUser) -> None:
    html = '😀 <b>案号</b> &lt;A&amp;B&gt; <a href="https://court.example/x?a=1&amp;b=2">查看</a>'
    status, body = send(fake, alice.id, html, parse_mode="html")
    assert status == 200
    message = body["result"]
    assert message["text"] == "😀 案号 <A&B> 查看"
    assert message["entities"] == [
        {"offset": 3, "length": 2, "type": "bold"},
        {"offset": 12, "length": 2, "type": "text_link", "url": "https://court.example/x?a=1&b=2"},
    ]
    assert message["from"]["id"] == BOT_ID
    assert message["chat"] == {
        "id": 1001,
        "first_name": "Alice",
        "username": "alice",
        "type": "private",
    }
    assert message["date"] == 1_750_000_000
    assert fake.texts_to(alice) == ["😀 案号 <A&B> 查看"]


def test_html_nesting_pre_code_blockquote_spoiler(fake: FakeTelegram, alice: FakeUser) -> None:
    html = (
        '<pre><code class="language-python">x = 1</code></pre>\n'
        "<blockquote expandable>引用</blockquote><tg-spoiler>密</tg-spoiler>"
    )
    _, body = send(fake, alice.id, html, parse_mode="HTML")
    assert [e["type"] for e in body["result"]["entities"]] == [
        "pre",
        "expandable_blockquote",
        "spoiler",
    ]
    assert body["result"]["entities"][0]["language"] == "python"


def test_text_limits(fake: FakeTelegram, alice: FakeUser) -> None:
    assert send(fake, alice.id, "x" * 4096)[0] == 200
    assert description(send(fake, alice.id, "x" * 4097)) == "Bad Request: message is too long"
    # 2049 emoji are 4098 UTF-16 code units.
    assert description(send(fake, alice.id, "😀" * 2049)) == "Bad Request: message is too long"
    # Markup does not count: 4096 visible characters inside tags are fine.
    assert send(fake, alice.id, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")[0] == 200
    for empty in ("", "  \n ", "<b> </b>"):
        answer = send(fake, alice.id, empty, parse_mode="HTML")
        assert description(answer) == "Bad Request: message text is empty"
    _, body = send(fake, alice.id, "\n <b>hi</b> \n", parse_mode="HTML")
    assert body["result"]["text"] == "hi"
    assert body["result"]["entities"] == [{"offset": 0, "length": 2, "type": "bold"}]


def test_caption_limit(fake: FakeTelegram, alice: FakeUser) -> None:
    _, document = fake.send_document(alice, "判决书.pdf", 52_000)
    assert document is not None
    file_id = document["document"]["file_id"]
    params = {"chat_id": alice.id, "document": file_id}
    too_long = fake.handle("sendDocument", {**params, "caption": "c" * 1025})
    assert description(too_long) == "Bad Request: message caption is too long"
    status, body = fake.handle(
        "sendDocument", {**params, "caption": "<i>说明</i>", "parse_mode": "HTML"}
    )
    assert status == 200
    assert body["result"]["document"] == document["document"]
    assert body["result"]["caption_entities"] == [{"offset": 0, "length": 2, "type": "italic"}]


# ---------------------------------------------------------------------- keyboards


def test_callback_data_limits(fake: FakeTelegram, alice: FakeUser) -> None:
    def keyboard(data: str) -> str:
        return json.dumps({"inline_keyboard": [[{"text": "按钮", "callback_data": data}]]})

    assert send(fake, alice.id, "ok", reply_markup=keyboard("a" * 64))[0] == 200
    assert description(send(fake, alice.id, "x", reply_markup=keyboard("a" * 65))) == (
        "Bad Request: BUTTON_DATA_INVALID"
    )
    # 22 CJK characters are 66 bytes of UTF-8: too long although only 22 characters.
    assert description(send(fake, alice.id, "x", reply_markup=keyboard("数" * 22))) == (
        "Bad Request: BUTTON_DATA_INVALID"
    )
    assert description(send(fake, alice.id, "x", reply_markup=keyboard(""))) == (
        "Bad Request: BUTTON_DATA_INVALID"
    )


def test_button_shapes(fake: FakeTelegram, alice: FakeUser) -> None:
    def markup(*buttons: dict) -> str:
        return json.dumps({"inline_keyboard": [list(buttons)]})

    text_only = send(fake, alice.id, "x", reply_markup=markup({"text": "t"}))
    assert description(text_only) == (
        "Bad Request: can't parse inline keyboard button: "
        "Text buttons are unallowed in the inline keyboard"
    )
    bad_url = send(fake, alice.id, "x", reply_markup=markup({"text": "t", "url": "court.example"}))
    assert description(bad_url).startswith(
        "Bad Request: inline keyboard button URL 'court.example' is invalid"
    )
    good = markup(
        {"text": "网站", "url": "https://court.example"},
        {"text": "tg", "url": "tg://resolve?domain=x"},
    )
    status, body = send(fake, alice.id, "x", reply_markup=good)
    assert status == 200
    assert fake.buttons(body["result"]) == [
        [("网站", "https://court.example"), ("tg", "tg://resolve?domain=x")]
    ]
    assert description(send(fake, alice.id, "x", reply_markup="{not json")) == (
        "Bad Request: can't parse reply keyboard markup JSON object"
    )


# ---------------------------------------------------------------------- reachability


def test_who_the_bot_can_write_to(fake: FakeTelegram, alice: FakeUser) -> None:
    bob = fake.user(1002, "Bob")
    assert send(fake, bob.id, "hi") == (
        403,
        {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot can't initiate conversation with a user",
        },
    )
    fake.send_text(bob, "你好")
    assert send(fake, bob.id, "hi")[0] == 200

    fake.block_bot(alice)
    assert description(send(fake, alice.id, "hi")) == "Forbidden: bot was blocked by the user"
    assert description(send(fake, 424242, "hi")) == "Bad Request: chat not found"
    assert description(send(fake, "@nobody", "hi")) == "Bad Request: chat not found"

    group = fake.group(-4001, "府院联动群")
    assert (
        description(send(fake, group.id, "hi"))
        == "Forbidden: bot is not a member of the group chat"
    )
    fake.bot_added_to_group(group, bob)
    assert send(fake, group.id, "hi")[0] == 200
    fake.bot_removed_from_group(group, bob)
    assert (
        description(send(fake, group.id, "hi")) == "Forbidden: bot was kicked from the group chat"
    )
    supergroup = fake.group(-1001234567890, "超级群", add_bot=True)
    fake.bot_removed_from_group(supergroup)
    assert description(send(fake, supergroup.id, "hi")) == (
        "Forbidden: bot was kicked from the supergroup chat"
    )
    kinds = [next(k for k in u if k != "update_id") for u in fake.take_updates()]
    assert kinds.count("my_chat_member") == 5  # block, add, remove, add, remove


# ---------------------------------------------------------------------- edits and callbacks


def test_edit_message_text(fake: FakeTelegram, alice: FakeUser) -> None:
    _, body = send(fake, alice.id, "<b>待审批</b>", parse_mode="HTML", reply_markup=KEYBOARD)
    message_id = body["result"]["message_id"]
    edit = {"chat_id": alice.id, "message_id": message_id, "parse_mode": "HTML"}

    same = fake.handle(
        "editMessageText", {**edit, "text": "<b>待审批</b>", "reply_markup": KEYBOARD}
    )
    assert description(same) == NOT_MODIFIED
    # Same characters but different formatting is a modification.
    status, body = fake.handle(
        "editMessageText", {**edit, "text": "待审批", "reply_markup": KEYBOARD}
    )
    assert status == 200
    assert body["result"]["edit_date"] == 1_750_000_000
    # An edit without reply_markup drops the keyboard, as on Telegram.
    status, body = fake.handle("editMessageText", {**edit, "text": "已审批"})
    assert status == 200
    assert "reply_markup" not in body["result"]
    assert fake.messages_to(alice)[0]["text"] == "已审批"

    missing = fake.handle("editMessageText", {**edit, "message_id": 999, "text": "x"})
    assert description(missing) == "Bad Request: message to edit not found"
    users_own = fake.handle("editMessageText", {**edit, "message_id": 1, "text": "x"})
    assert description(users_own) == "Bad Request: message can't be edited"
    markup_only = fake.handle(
        "editMessageReplyMarkup", {"chat_id": alice.id, "message_id": message_id}
    )
    assert description(markup_only) == NOT_MODIFIED


def test_press_and_answer_callback_query(fake: FakeTelegram, alice: FakeUser) -> None:
    _, body = send(fake, alice.id, "请选择", reply_markup=KEYBOARD)
    update, message = fake.press(alice, body["result"], "同意")
    query = update["callback_query"]
    assert query["data"] == "agree"
    assert query["from"]["id"] == alice.id
    assert query["message"]["message_id"] == body["result"]["message_id"]
    assert message == body["result"]
    assert fake.unanswered_callback_queries() == [query["id"]]

    too_long = fake.handle(
        "answerCallbackQuery", {"callback_query_id": query["id"], "text": "长" * 201}
    )
    assert description(too_long) == "Bad Request: MESSAGE_TOO_LONG"
    answer = {"callback_query_id": query["id"], "text": "已提交", "show_alert": "true"}
    assert fake.handle("answerCallbackQuery", answer) == (200, {"ok": True, "result": True})
    assert description(fake.handle("answerCallbackQuery", answer)) == QUERY_TOO_OLD
    assert (
        description(fake.handle("answerCallbackQuery", {"callback_query_id": "42"}))
        == QUERY_TOO_OLD
    )
    seen = fake.callback_answers(alice)
    assert [(a["text"], a["show_alert"], a["data"]) for a in seen] == [("已提交", True, "agree")]
    assert fake.unanswered_callback_queries() == []

    forged, _ = fake.press(alice, body["result"]["message_id"], callback_data="admin:delete")
    assert forged["callback_query"]["data"] == "admin:delete"
    with pytest.raises(AssertionError, match=r"(?s)no button matches '拒绝'.*'同意' -> agree"):
        fake.press(alice, body["result"], "拒绝")


# ---------------------------------------------------------------------- updates


def test_get_updates_offsets(fake: FakeTelegram, alice: FakeUser) -> None:
    fake.send_text(alice, "一")
    fake.send_text(alice, "二")
    status, body = fake.handle("getUpdates", {})
    ids = [u["update_id"] for u in body["result"]]
    assert status == 200
    assert ids == [1, 2, 3]  # /start from the fixture, then the two texts
    assert body["result"][0]["message"]["entities"] == [
        {"offset": 0, "length": 6, "type": "bot_command"}
    ]
    # Unconfirmed updates are returned again; limit caps the batch.
    assert [u["update_id"] for u in fake.handle("getUpdates", {"limit": "2"})[1]["result"]] == [
        1,
        2,
    ]
    # offset confirms everything below it, forever.
    assert [u["update_id"] for u in fake.handle("getUpdates", {"offset": "3"})[1]["result"]] == [3]
    assert [u["update_id"] for u in fake.handle("getUpdates", {"offset": 1})[1]["result"]] == [3]
    assert fake.handle("getUpdates", {"offset": 4})[1]["result"] == []
    assert fake.pending_update_count == 0
    fake.send_text(alice, "/help@fuyuan_test_bot 案件")
    assert fake.handle("getUpdates", {"offset": 4})[1]["result"][0]["message"]["entities"] == [
        {"offset": 0, "length": 21, "type": "bot_command"}
    ]


def test_group_privacy_mode(fake: FakeTelegram, alice: FakeUser) -> None:
    group = fake.group(-4002, "协调群", add_bot=True)
    fake.take_updates(offset=fake.take_updates()[-1]["update_id"] + 1)
    assert fake.send_text(alice, "大家好", group).queued is False
    assert fake.send_text(alice, "/status@other_bot", group).queued is False
    assert fake.send_text(alice, "/status@fuyuan_test_bot", group).queued is True
    _, body = send(fake, group.id, "请回复")
    assert fake.send_text(alice, "回复机器人", group, reply_to=body["result"]).queued is True
    assert len(fake.take_updates()) == 2


# ---------------------------------------------------------------------- commands and misc


def test_set_my_commands_validation(fake: FakeTelegram) -> None:
    def commands(*pairs: tuple[str, str], **params: str) -> tuple[int, dict]:
        payload = [{"command": c, "description": d} for c, d in pairs]
        return fake.handle("setMyCommands", {"commands": json.dumps(payload), **params})

    assert commands(("start", "开始"), ("case_list", "案件列表")) == (
        200,
        {"ok": True, "result": True},
    )
    assert fake.my_commands() == [
        {"command": "start", "description": "开始"},
        {"command": "case_list", "description": "案件列表"},
    ]
    assert description(commands(("Start", "x"))) == "Bad Request: BOT_COMMAND_INVALID"
    assert description(commands(("/start", "x"))) == "Bad Request: BOT_COMMAND_INVALID"
    assert description(commands(("a" * 33, "x"))) == "Bad Request: BOT_COMMAND_INVALID"
    assert description(commands(("ok", ""))) == "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
    assert (
        description(commands(("ok", "d" * 257))) == "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
    )
    many = [(f"c{n}", "d") for n in range(101)]
    assert description(commands(*many)) == "Bad Request: BOT_COMMANDS_TOO_MUCH"

    scope = json.dumps({"type": "all_private_chats"})
    assert commands(("help", "帮助"), scope=scope, language_code="zh")[0] == 200
    got = fake.handle(
        "getMyCommands", {"scope": {"type": "all_private_chats"}, "language_code": "zh"}
    )
    assert got[1]["result"] == [{"command": "help", "description": "帮助"}]
    assert fake.handle("getMyCommands", {})[1]["result"] == fake.my_commands()
    assert description(commands(("x", "y"), language_code="zh-hans")) == (
        "Bad Request: invalid language code specified"
    )
    assert fake.handle("deleteMyCommands", {})[0] == 200
    assert fake.my_commands() == []


def test_a_chat_scoped_menu(fake: FakeTelegram, alice: FakeUser) -> None:
    """A menu of one private chat (as the bot sets per member): the chat must exist, the
    scope must carry its id, and deleting it leaves the other scopes alone."""
    mine = json.dumps({"type": "chat", "chat_id": alice.id})
    payload = json.dumps([{"command": "my", "description": "我的在办事项"}])
    assert fake.handle("setMyCommands", {"commands": payload, "scope": mine})[0] == 200
    assert fake.handle("setMyCommands", {"commands": payload})[0] == 200
    assert fake.my_commands("chat", alice.id) == [{"command": "my", "description": "我的在办事项"}]
    unknown = json.dumps({"type": "chat", "chat_id": 424242})
    assert description(fake.handle("setMyCommands", {"commands": payload, "scope": unknown})) == (
        "Bad Request: chat not found"
    )
    no_id = json.dumps({"type": "chat"})
    assert fake.handle("setMyCommands", {"commands": payload, "scope": no_id})[0] == 400
    bogus = json.dumps({"type": "private_chat", "chat_id": alice.id})
    assert description(fake.handle("setMyCommands", {"commands": payload, "scope": bogus})) == (
        "Bad Request: can't parse BotCommandScope JSON object"
    )
    assert fake.handle("deleteMyCommands", {"scope": mine})[0] == 200
    assert fake.my_commands("chat", alice.id) == []
    assert fake.my_commands() == [{"command": "my", "description": "我的在办事项"}]


def test_methods_names_and_unknown(fake: FakeTelegram, alice: FakeUser) -> None:
    assert fake.handle("GETME", {})[1]["result"]["username"] == "fuyuan_test_bot"
    assert fake.handle("getMe", {})[1]["result"]["first_name"] == "府院通"
    assert fake.handle("sendSticker", {}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert fake.handle("sendChatAction", {"chat_id": str(alice.id), "action": "typing"})[0] == 200
    assert description(fake.handle("sendChatAction", {"chat_id": alice.id, "action": "x"})) == (
        "Bad Request: wrong parameter action in request"
    )
    assert fake.handle("getChat", {"chat_id": alice.id})[1]["result"]["type"] == "private"
    assert fake.handle("close", {}) == (200, {"ok": True, "result": True})
    assert [c.method for c in fake.calls_of("getme")] == ["GETME", "getMe"]
    fake.clear_log()
    assert fake.calls == []


def test_files_media_group_and_delete(fake: FakeTelegram, alice: FakeUser) -> None:
    _, first = fake.send_document(alice, "起诉状.pdf", 1200)
    _, photo = fake.send_photo(alice, 250_000)
    assert first is not None and photo is not None
    doc_id = first["document"]["file_id"]
    photo_id = photo["photo"][-1]["file_id"]
    status, body = fake.handle("getFile", {"file_id": doc_id})
    assert status == 200
    assert body["result"]["file_path"] == f"documents/{doc_id}"
    content = fake.file_content(body["result"]["file_path"])
    assert content is not None and content.startswith(b"%PDF") and len(content) == 1200
    big = fake.send_document(alice, "卷宗.zip", 21 * 1024 * 1024, "application/zip").message
    assert big is not None
    assert description(fake.handle("getFile", {"file_id": big["document"]["file_id"]})) == (
        "Bad Request: file is too big"
    )
    wrong = fake.handle("sendPhoto", {"chat_id": alice.id, "photo": doc_id})
    assert description(wrong) == "Bad Request: type of file mismatch"
    unknown = fake.handle("sendDocument", {"chat_id": alice.id, "document": "nope"})
    assert description(unknown) == "Bad Request: wrong file identifier/HTTP URL specified"
    assert fake.handle("sendPhoto", {"chat_id": alice.id, "photo": photo_id})[0] == 200

    media = [
        {"type": "document", "media": doc_id, "caption": "附件一"},
        {"type": "document", "media": doc_id},
    ]
    status, body = fake.handle("sendMediaGroup", {"chat_id": alice.id, "media": json.dumps(media)})
    assert status == 200
    assert len({m["media_group_id"] for m in body["result"]}) == 1
    mixed = [{"type": "document", "media": doc_id}, {"type": "photo", "media": photo_id}]
    assert fake.handle("sendMediaGroup", {"chat_id": alice.id, "media": mixed})[0] == 400

    last = body["result"][-1]["message_id"]
    assert fake.handle("deleteMessage", {"chat_id": alice.id, "message_id": last})[0] == 200
    again = fake.handle("deleteMessage", {"chat_id": alice.id, "message_id": last})
    assert description(again) == "Bad Request: message to delete not found"
    assert [m["message_id"] for m in fake.messages_to(alice)] == [5, 6]


# ---------------------------------------------------------------------- reliability hooks


def test_injected_failures_and_flood_limits(fake: FakeTelegram, alice: FakeUser) -> None:
    fake.inject(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    fake.inject(None, status=502, description="Bad Gateway", times=2)
    assert send(fake, alice.id, "a") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    assert fake.handle("getUpdates", {})[0] == 200  # None never hits getUpdates
    assert [send(fake, alice.id, "b")[0], fake.handle("getMe", {})[0]] == [502, 502]
    assert send(fake, alice.id, "c")[0] == 200

    fake.inject_timeout("sendMessage")
    fake.inject_timeout("sendMessage", deliver=True)
    with pytest.raises(Exception, match="delivered=False"):
        send(fake, alice.id, "lost")
    with pytest.raises(Exception, match="delivered=True"):
        send(fake, alice.id, "arrived")
    assert fake.texts_to(alice) == ["c", "arrived"]
    assert [c.timed_out for c in fake.calls_of("sendMessage")][-2:] == [True, True]

    clock = [100.0]
    limited = FakeTelegram(now=lambda: clock[0])
    limited.flood_limits(per_second_overall=30, per_minute_per_group=20)
    group = limited.group(-4003, "群", add_bot=True)
    statuses = [send(limited, group.id, str(n))[0] for n in range(21)]
    assert statuses == [200] * 20 + [429]
    assert limited.calls[-1].response["parameters"] == {"retry_after": 60}
    clock[0] += 30
    assert description(send(limited, group.id, "x")) == "Too Many Requests: retry after 30"
    clock[0] += 30.5
    assert send(limited, group.id, "x")[0] == 200


def test_wait_for_reports_recent_calls(fake: FakeTelegram, alice: FakeUser) -> None:
    send(fake, alice.id, "<b>", parse_mode="HTML")
    with pytest.raises(
        AssertionError, match=r"(?s)within 0.05s.*sendMessage.*can't parse entities"
    ):
        fake.wait_for(lambda: bool(fake.messages_to(alice)), timeout=0.05)
    threading.Timer(0.05, send, (fake, alice.id, "later")).start()
    fake.wait_for(lambda: bool(fake.messages_to(alice)), timeout=5)


# ---------------------------------------------------------------------- real python-telegram-bot


async def exercise_bot(fake: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    """The same conversation through either transport."""
    me = await bot.get_me()
    assert (me.id, me.username) == (BOT_ID, "fuyuan_test_bot")

    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("同意", callback_data="agree"),
                InlineKeyboardButton("详情", url="https://court.example"),
            ]
        ]
    )
    sent = await bot.send_message(
        alice.id, "<b>新案件</b> 😀", parse_mode="HTML", reply_markup=keyboard
    )
    assert sent.text == "新案件 😀"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 3
    assert sent.reply_markup == keyboard
    assert fake.calls_of("sendMessage")[-1].params["reply_markup"] == keyboard.to_dict()

    offset = fake.take_updates()[-1]["update_id"] + 1
    asyncio.get_running_loop().call_later(0.2, fake.press, alice, sent.message_id, "同意")
    started = time.monotonic()
    updates = await bot.get_updates(offset=offset, timeout=5)
    assert time.monotonic() - started < 3
    assert [u.callback_query.data for u in updates if u.callback_query] == ["agree"]
    assert await bot.answer_callback_query(updates[0].callback_query.id, "好的")

    with pytest.raises(BadRequest, match=r"(?i)can.t find end tag"):
        await bot.send_message(alice.id, "<b>未闭合", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(
            alice.id,
            "x",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("b", callback_data="d" * 65)]]
            ),
        )
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(fake.user(1009, "Stranger").id, "hi")
    fake.inject(
        "sendMessage", status=429, description="Too Many Requests: retry after 3", retry_after=3
    )
    with pytest.raises(RetryAfter):
        await bot.send_message(alice.id, "x")

    edited = await bot.edit_message_text("已同意", alice.id, sent.message_id)
    assert not isinstance(edited, bool) and fake.messages_to(alice)[-1]["text"] == "已同意"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("已同意", alice.id, sent.message_id)

    upload = await bot.send_document(
        alice.id, InputFile(b"%PDF-1.4 data", filename="回执.pdf"), caption="回执"
    )
    assert upload.document is not None and upload.document.file_name == "回执.pdf"
    assert upload.document.file_size == 13
    tg_file = await bot.get_file(upload.document.file_id)
    assert bytes(await tg_file.download_as_bytearray()) == b"%PDF-1.4 data"
    await bot.set_my_commands([("start", "开始")])
    assert fake.my_commands() == [{"command": "start", "description": "开始"}]


@pytest.mark.asyncio
@pytest.mark.filterwarnings(RETRY_AFTER_IS_INT)
async def test_real_bot_over_http(
    fake: FakeTelegram, alice: FakeUser, server: FakeBotApiServer
) -> None:
    bot = Bot(TEST_TOKEN, base_url=server.base_url, base_file_url=server.base_file_url)
    async with bot:
        await exercise_bot(fake, bot, alice)
    with pytest.raises(InvalidToken):
        async with Bot("1:wrong", base_url=server.base_url) as wrong:
            await wrong.get_me()


@pytest.mark.asyncio
@pytest.mark.filterwarnings(RETRY_AFTER_IS_INT)
async def test_real_bot_through_fake_request(fake: FakeTelegram, alice: FakeUser) -> None:
    bot = Bot(TEST_TOKEN, request=FakeRequest(fake), get_updates_request=FakeRequest(fake))
    async with bot:
        await exercise_bot(fake, bot, alice)


@pytest.mark.asyncio
async def test_timeouts_over_http_and_in_process(
    fake: FakeTelegram, alice: FakeUser, server: FakeBotApiServer
) -> None:
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(TEST_TOKEN, base_url=server.base_url, request=request) as bot:
        fake.inject_timeout("sendMessage", deliver=True)
        with pytest.raises(TimedOut):
            await bot.send_message(alice.id, "送达但超时")
        fake.inject_timeout("sendMessage")
        with pytest.raises(TimedOut):
            await bot.send_message(alice.id, "未送达")
    assert fake.texts_to(alice) == ["送达但超时"]
    async with Bot(TEST_TOKEN, request=FakeRequest(fake)) as in_process:
        fake.inject_timeout(None)
        with pytest.raises(TimedOut):
            await in_process.send_message(alice.id, "x")


def test_stop_unblocks_long_poll(fake: FakeTelegram) -> None:
    server = FakeBotApiServer(fake).start()
    url = f"{server.base_url}{TEST_TOKEN}/getUpdates?timeout=30"
    answers: list[dict] = []

    def poll() -> None:
        with urllib.request.urlopen(url, timeout=10) as response:
            answers.append(json.load(response))

    poller = threading.Thread(target=poll)
    poller.start()
    fake.wait_for(lambda: fake.waiting_long_polls == 1, timeout=5)
    started = time.monotonic()
    server.stop()
    poller.join(5)
    assert time.monotonic() - started < 2
    assert answers == [{"ok": True, "result": []}]


def test_server_accepts_json_bodies(
    fake: FakeTelegram, alice: FakeUser, server: FakeBotApiServer
) -> None:
    body = json.dumps({"chat_id": alice.id, "text": "<i>JSON</i>", "parse_mode": "HTML"}).encode()
    request = urllib.request.Request(
        f"{server.base_url}{TEST_TOKEN}/sendmessage", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.load(response)
    assert answer["result"]["entities"] == [{"offset": 0, "length": 4, "type": "italic"}]


@pytest.mark.asyncio
async def test_application_polling_with_fake_request(fake: FakeTelegram) -> None:
    """A whole PTB Application polls the fake: the way the bot's own tests will run."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="ok")]])
        await update.effective_message.reply_text("欢迎", reply_markup=keyboard)

    async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("已确认")
        await update.callback_query.edit_message_text("已确认 ✅")

    app = (
        ApplicationBuilder()
        .token(TEST_TOKEN)
        .request(FakeRequest(fake))
        .get_updates_request(FakeRequest(fake))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(confirm))
    carol = fake.user(1003, "Carol")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=10)
        fake.send_text(carol, "/start")
        await fake.until(lambda: fake.texts_to(carol) == ["欢迎"], timeout=5)
        fake.press(carol, fake.last_message_to(carol), "确认")
        await fake.until(lambda: fake.texts_to(carol) == ["已确认 ✅"], timeout=5)
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        assert time.monotonic() - started < 2
    assert fake.callback_answers(carol)[0]["text"] == "已确认"
    assert fake.unanswered_callback_queries() == []
    assert fake.pending_update_count == 0


def test_set_webhook_is_strict(fake: FakeTelegram, alice: FakeUser) -> None:
    def err(**params: object) -> str:
        status, envelope = fake.handle("setWebhook", params)
        assert status == 400, envelope
        return str(envelope["description"])

    assert "HTTPS URL must be provided" in err(url="http://bot.example.org/tg")
    assert "only on ports 80, 88, 443 or 8443" in err(url="https://bot.example.org:8080/tg")
    assert "unallowed characters" in err(url="https://bot.example.org/tg", secret_token="a b")
    assert "unallowed characters" in err(url="https://bot.example.org/tg", secret_token="a" * 257)
    assert "max_connections" in err(url="https://bot.example.org/tg", max_connections=0)
    assert fake.webhook_url == ""

    ok = fake.handle(
        "setWebhook",
        {
            "url": "https://bot.example.org/tg",
            "secret_token": "Az09_-",
            "allowed_updates": '["message"]',
        },
    )
    assert ok == (200, {"ok": True, "result": True})
    assert (fake.webhook_url, fake.webhook_secret) == ("https://bot.example.org/tg", "Az09_-")
    info = fake.handle("getWebhookInfo", {})[1]["result"]
    assert info["url"] == "https://bot.example.org/tg" and info["pending_update_count"] == 1
    assert info["allowed_updates"] == ["message"]
    assert fake.handle("getUpdates", {})[0] == 409  # not both at once, as Telegram
    assert fake.handle("deleteWebhook", {})[0] == 200
    assert (fake.webhook_url, fake.webhook_secret) == ("", None)
    assert fake.handle("getUpdates", {})[0] == 200 and fake.pending_update_count == 1


def test_server_posts_updates_to_the_webhook_with_the_secret(
    fake: FakeTelegram, server: FakeBotApiServer, alice: FakeUser
) -> None:
    import http.server

    got: list[tuple[str | None, dict[str, object]]] = []
    answers = [500, 200, 200]

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
            self.send_response(answers.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        server.route_webhook("https://bot.example.org/tg", f"http://127.0.0.1:{hook.server_port}/")
        fake.send_text(alice, "second")
        fake.handle("setWebhook", {"url": "https://bot.example.org/tg", "secret_token": "s3"})
        fake.wait_for(lambda: fake.pending_update_count == 0)
    finally:
        hook.shutdown()
        hook.server_close()
        thread.join()
    # The first post failed (500) and was posted again; in order; each with the secret.
    assert [(secret, body["update_id"]) for secret, body in got] == [
        ("s3", 1),
        ("s3", 1),
        ("s3", 2),
    ]
    assert fake.webhook_posts == [(1, 500), (1, 200), (2, 200)]
    assert got[2][1]["message"]["text"] == "second"  # type: ignore[index]
