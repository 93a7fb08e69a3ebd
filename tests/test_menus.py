"""Command menus per role: each member's private chat gets the commands of their role in their
language; strangers and groups get their own; only what changed is ever sent again."""

from __future__ import annotations

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from handlers import menus
from tests.conftest import ADMIN_ID
from tests.fakes.telegram import FakeTelegram
from tests.flows import LI, QIAN, STRANGER, ZHAO, admin, member, rows
from tests.scenario import Harness, running_bot
from tests.test_once import WriteCounter

STRANGER_ZH = ["start", "whoami", "lang", "help"]
GROUP = ["help", "bindgroup"]
HEAD = ["new", "my", "case", "find", "meetings", "cancel", "lang", "whoami", "help"]
OFFICE = [
    "new",
    "my",
    "case",
    "find",
    "meetings",
    "stats",
    "invite",
    "invites",
    "members",
    "meeting",
    "digest",
    "calendar",
    "export",
    "status",
    "cancel",
    "lang",
    "whoami",
    "help",
]
OBSERVER = ["my", "case", "find", "meetings", "stats", "lang", "whoami", "help"]


def names(commands: list[dict[str, str]]) -> list[str]:
    return [c["command"] for c in commands]


def menu_of(bot: Harness, user_id: int) -> list[dict[str, str]]:
    return bot.fake.my_commands("chat", user_id)


def menu_calls(bot: Harness) -> list[str]:
    return [
        call.method
        for call in bot.fake.calls
        if call.method in ("setMyCommands", "deleteMyCommands")
    ]


async def stored(bot: Harness) -> dict[str, str]:
    found = await rows(bot, t.settings, t.settings.c.key.startswith("menu:"))
    return {row.key: row.value for row in found}


async def test_menus_follow_roles_languages_and_revocation(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    fake = FakeTelegram(now=lambda: clock.now().timestamp())
    fake.user(ADMIN_ID, "办公室管理员")  # the committee file's admin has opened the chat
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        await bot.settle()  # start-up sets the menus in the background
        # Strangers (in private chats, any language) and groups.
        assert names(fake.my_commands("all_private_chats")) == STRANGER_ZH
        assert names(fake.my_commands("all_private_chats", language_code="en")) == STRANGER_ZH
        assert fake.my_commands("all_private_chats", language_code="en")[0]["description"] == (
            "Get in with the office's invite link"
        )
        assert fake.my_commands("all_private_chats")[0]["description"] == (
            "用府院联动办公室的邀请链接加入"
        )
        assert names(fake.my_commands("default")) == STRANGER_ZH
        assert names(fake.my_commands("all_group_chats")) == GROUP
        assert names(fake.my_commands("all_group_chats", language_code="zh")) == GROUP
        # The admin of the committee file is an office member: the office's menu.
        assert names(menu_of(bot, ADMIN_ID)) == OFFICE
        assert menu_of(bot, ADMIN_ID)[5] == {"command": "stats", "description": "绩效考核"}
        assert menu_of(bot, ADMIN_ID)[6] == {"command": "invite", "description": "邀请成员"}

        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.settle()
        assert names(menu_of(bot, LI)) == HEAD
        assert menu_of(bot, LI)[0] == {
            "command": "new",
            "description": "提请研判或行政争议协调化解",
        }
        assert names(menu_of(bot, QIAN)) == OBSERVER
        zhao_menu = menu_of(bot, ZHAO)
        assert zhao_menu[0] == {"command": "new", "description": "法院提请事项"}
        assert "invite" not in names(zhao_menu)
        assert menu_of(bot, STRANGER) == []  # no chat menu: the stranger's
        digests = await stored(bot)
        assert set(digests) == {f"menu:{u}" for u in (ADMIN_ID, LI, QIAN, ZHAO)} | {"menu:shared"}

        # A language change: the member's menu in the new language.
        await bot.say(li, "/lang")
        await bot.press(li, "English")
        await bot.settle()
        assert menu_of(bot, LI)[0] == {
            "command": "new",
            "description": "Raise a consultation or a dispute referral",
        }
        assert (await stored(bot))[f"menu:{LI}"] != digests[f"menu:{LI}"]

        # Revoked: the chat's own menu goes, so the stranger's applies again.
        office = admin(bot)
        await bot.say(office, "/members")
        await bot.press(office, "撤销李明")
        await bot.press(office, "确认撤销")
        await bot.settle()
        assert (await rows(bot, t.members, t.members.c.user_id == LI))[0].revoked_at is not None
        assert menu_of(bot, LI) == []
        assert f"menu:{LI}" not in await stored(bot)
        calls_before_restart = len(menu_calls(bot))

    # A restart sends nothing: every menu is as it was set.
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        await bot.settle()
        assert len(menu_calls(bot)) == calls_before_restart
        assert names(menu_of(bot, ZHAO))[0] == "new"


async def test_a_failed_menu_is_sent_again_at_the_next_start(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    """The admin of the committee file has never opened the chat: Telegram refuses their
    menu; nothing is recorded, so it is tried again when the bot starts next."""
    fake = FakeTelegram(now=lambda: clock.now().timestamp())
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        await bot.settle()
        assert menu_of(bot, ADMIN_ID) == []
        assert f"menu:{ADMIN_ID}" not in await stored(bot)
        shared_calls = len(menu_calls(bot))
        assert shared_calls == 7 + 1  # the shared menus, and the admin's refused
    fake.user(ADMIN_ID, "办公室管理员")  # now they open it
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        await bot.settle()
        assert names(menu_of(bot, ADMIN_ID)) == OFFICE
        # The refused one alone was sent again, not the shared menus.
        assert len(menu_calls(bot)) == shared_calls + 1


async def test_a_start_up_sync_records_every_menu_in_one_write(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    """At start-up every member's menu may be due (here: none was ever recorded): the
    digests of all the menus set are written together, not one write per chat."""
    fake = FakeTelegram(now=lambda: clock.now().timestamp())
    fake.user(ADMIN_ID, "办公室管理员")
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.settle()
        async with bot.svc.db.write() as conn:
            await conn.execute(t.settings.delete().where(t.settings.c.key.startswith("menu:")))
        calls = len(menu_calls(bot))
        counter = WriteCounter(bot)
        try:
            assert await menus.sync(bot.app.bot, bot.app.bot_data["runtime"]) == 7 + 4
        finally:
            counter.close()
        assert len(menu_calls(bot)) == calls + 7 + 4  # the shared menus and four chats
        assert set(await stored(bot)) == {f"menu:{u}" for u in (ADMIN_ID, LI, QIAN, ZHAO)} | {
            "menu:shared"
        }
        assert counter.writes == 1
