"""Languages as users meet them: Chinese by default, English offered once to those whose
Telegram speaks English, /lang at any time, and the help a stranger gets."""

from __future__ import annotations

from bot.domain.committee import Committee
from bot.storage import schema as t
from tests.flows import STRANGER, bind_group, rows
from tests.scenario import Harness, running_bot

OFFER_EN = "🌐 This bot speaks Chinese by default. Would you like it in English?"


async def stored_lang(bot: Harness, user_id: int) -> str | None:
    (user,) = await rows(bot, t.users, t.users.c.user_id == user_id)
    return user.lang  # type: ignore[no-any-return]


def offers(bot: Harness, user_id: int) -> list[str]:
    """Every offer of English sent to the user (an offer answered is edited later)."""
    return [
        str(call.params["text"])
        for call in bot.fake.calls_of("sendMessage")
        if str(call.params.get("chat_id")) == str(user_id) and OFFER_EN in call.params["text"]
    ]


async def test_english_is_offered_once_under_the_first_answer(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        visitor = bot.user(STRANGER, "Visitor", lang="en-GB")
        await bot.say(visitor, "/start")
        first, offer = bot.texts(visitor)
        assert first.startswith("您好！本机器人服务于府院联动工作委员会成员。")  # the answer
        assert offer == f"{OFFER_EN}\n🌐 本机器人默认使用中文。需要切换为英文吗？"
        assert bot.labels(bot.last_with_buttons(visitor)) == ["中文", "English"]
        # The default is stored with the offer: it is never made again.
        assert await stored_lang(bot, STRANGER) == "zh_CN"
        await bot.say(visitor, "/help")
        await bot.say(visitor, "hello?")
        assert len(offers(bot, STRANGER)) == 1
        assert await stored_lang(bot, STRANGER) == "zh_CN"

        # Pressing English switches as /lang does.
        await bot.press(visitor, "English", message=bot.fake.messages_to(visitor)[1])
        # The offer itself turns into the confirmation.
        assert bot.fake.messages_to(visitor)[1]["text"] == "✅ Language set to English."
        assert await stored_lang(bot, STRANGER) == "en"
        await bot.say(visitor, "/help")
        assert bot.last_text(visitor).startswith("Hello! This bot serves the members")
        assert len(offers(bot, STRANGER)) == 1
        fake = bot.fake

    # Nor after a restart: the flag is in the database.
    async with running_bot(committee, db_url, fake=fake) as bot:
        visitor = bot.user(STRANGER, "Visitor", lang="en-GB")
        await bot.say(visitor, "/whoami")
        assert "Telegram user ID:" in bot.last_text(visitor)
        assert len(offers(bot, STRANGER)) == 1


async def test_keeping_chinese_from_the_offer(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        visitor = bot.user(STRANGER, "Visitor", lang="en")
        await bot.say(visitor, "/whoami")
        await bot.press(visitor, "中文")
        assert bot.last_text(visitor) == "✅ 语言已设置为简体中文。"
        assert await stored_lang(bot, STRANGER) == "zh_CN"
        await bot.say(visitor, "/lang")  # /lang still switches at any time
        await bot.press(visitor, "English")
        assert await stored_lang(bot, STRANGER) == "en"
        assert len(offers(bot, STRANGER)) == 1


async def test_no_offer_to_chinese_users_nor_in_groups_nor_after_lang(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        chinese = bot.user(9002, "路人")  # zh-hans
        await bot.say(chinese, "/start")
        assert offers(bot, 9002) == []
        assert await stored_lang(bot, 9002) is None  # nothing chosen, nothing offered

        # /lang as the very first message asks the question itself: no offer under it, and
        # none later once a language is chosen.
        chose_first = bot.user(9003, "Early", lang="en")
        await bot.say(chose_first, "/lang")
        assert len(bot.texts(chose_first)) == 1
        assert await stored_lang(bot, 9003) is None
        await bot.press(chose_first, "English")
        assert await stored_lang(bot, 9003) == "en"
        await bot.say(chose_first, "/help")
        assert offers(bot, 9003) == []

        # In the group a message is everyone's: no offer there.
        group = await bind_group(bot)
        visitor = bot.user(9004, "Visitor", lang="en")
        await bot.say(visitor, "/help", chat=group)
        await bot.settle()
        assert not any(OFFER_EN in text for text in bot.texts(group))
        assert offers(bot, 9004) == []


async def test_a_strangers_help_lists_what_a_stranger_can_do(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        visitor = bot.user(STRANGER, "路人")
        await bot.say(visitor, "/help")
        text = bot.last_text(visitor)
        assert "您还不是成员。请向府院联动办公室索取邀请链接，并在此打开。" in text
        assert f"您的 Telegram 用户 ID 为{STRANGER}。" in text
        commands = [line.split(" — ")[0] for line in text.splitlines() if " — " in line]
        assert commands == ["/start", "/whoami", "/lang", "/help"]
        assert "/new" not in text and "/case" not in text
        # Each of them does what the help says.
        await bot.say(visitor, "/whoami")
        assert str(STRANGER) in bot.last_text(visitor)
        await bot.say(visitor, "/lang")
        assert bot.labels(bot.last_with_buttons(visitor)) == ["简体中文", "English"]
        # Nothing about them is stored but the user row every contact makes.
        assert await rows(bot, t.members, t.members.c.user_id == STRANGER) == []


async def test_lang_with_a_language_sets_it_at_once(committee: Committee, db_url: str) -> None:
    """/lang en and /lang zh name the language: set at once, no question; anything else
    after /lang asks as /lang does."""
    async with running_bot(committee, db_url) as bot:
        visitor = bot.user(9005, "Visitor", lang="zh-hans")
        await bot.say(visitor, "/whoami")
        await bot.say(visitor, "/lang en")
        assert bot.last_text(visitor) == "✅ Language set to English."
        assert "reply_markup" not in bot.fake.last_message_to(visitor)
        assert await stored_lang(bot, 9005) == "en"
        await bot.say(visitor, "/lang zh")
        assert bot.last_text(visitor) == "✅ 语言已设置为简体中文。"
        assert await stored_lang(bot, 9005) == "zh_CN"
        await bot.say(visitor, "/lang klingon")
        assert bot.labels(bot.fake.last_message_to(visitor)) == ["简体中文", "English"]
        assert await stored_lang(bot, 9005) == "zh_CN"
