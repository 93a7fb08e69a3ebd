"""Getting in and being let out: strangers, invite links, the office's member list, /whoami,
/bindgroup, /lang and the command menus."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.services.members import token_digest
from bot.storage import schema as t
from tests.conftest import ADMIN_ID
from tests.flows import (
    LI,
    STRANGER,
    WANG,
    ZHAO,
    admin,
    all_seen,
    member,
    new_invite,
    not_member_text,
    rows,
    seed_case,
)
from tests.scenario import running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


NR = "长白山管委会自然资源局"
ADMIN_ONLY = "⚠ 仅府院联动办公室可进行此操作。"


async def test_a_stranger_gets_the_polite_explanation_and_no_case_data(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await seed_case(bot, LI, "李明", "某村土地征收补偿争议", kind="referral")
        assert case.number == "协调〔2026〕1号"
        stranger = bot.user(STRANGER, "路人甲")

        for text in (
            "/start",
            "/new",
            "/my",
            "/case 协调〔2026〕1号",
            "/help",
            "/cancel",
            "你好，请问怎么用？",
        ):
            before = len(bot.texts(stranger))
            await bot.say(stranger, text)
            (answer,) = bot.new_texts(stranger, before)
            if text == "/help":  # the same, with what a stranger can do
                assert answer.startswith(not_member_text(STRANGER) + "\n\n/start — ")
            else:
                assert answer == not_member_text(STRANGER), text
        explanation = bot.fake.last_message_to(stranger)

        # Forged presses of buttons the stranger never had.
        await bot.press(stranger, message=explanation, data=f"v:acknowledge:{case.id}")
        assert bot.alerts(stranger)[-1] == "仅接收法院的工作人员可进行此操作。"
        assert bot.fake.callback_answers(stranger)[-1]["show_alert"] is True
        await bot.press(stranger, message=explanation, data=f"v:return:{case.id}")
        assert bot.alerts(stranger)[-1] == "仅接收法院的工作人员可进行此操作。"
        await bot.press(stranger, message=explanation, data=f"c:view:{case.id}")
        assert bot.alerts(stranger)[-1] == "该按钮已失效。"
        await bot.press(stranger, message=explanation, data=f"c:files:{case.id}")
        assert bot.alerts(stranger)[-1] == "该按钮已失效。"
        await bot.press(stranger, message=explanation, data="my:1")
        assert bot.alerts(stranger)[-1] == "该按钮已失效。"

        seen = all_seen(bot, stranger)
        assert "某村土地征收补偿争议" not in seen and "张三" not in seen
        assert "协调〔2026〕1号" not in "\n".join(bot.texts(stranger))
        # The case is untouched, and the stranger holds nothing but a users row.
        after = await bot.svc.get_case(case.id)
        assert after.status == "submitted" and after.acted_by is None
        assert [e.action for e in await rows(bot, t.events, t.events.c.case_id == case.id)] == [
            "submitted"
        ]
        assert await rows(bot, t.members, t.members.c.user_id == STRANGER) == []
        assert await rows(bot, t.drafts, t.drafts.c.user_id == STRANGER) == []
        (user,) = await rows(bot, t.users, t.users.c.user_id == STRANGER)
        assert user.first_name == "路人甲"


async def test_an_invite_link_opened_twice_by_the_same_person(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        token = await new_invite(bot, NR, "部门负责人")
        office_text = bot.last_text(admin(bot))
        assert office_text.startswith(f"✅ {NR}（部门负责人）的邀请链接：")
        assert "该链接仅可使用一次，有效期至2026年11月28日（周六）10:00。" in office_text
        li = bot.user(LI, "李明")
        welcome = f"✅ 欢迎！您已以部门负责人身份加入{NR}。"
        for _ in range(2):
            before = len(bot.texts(li))
            await bot.say(li, f"/start i_{token}")
            shown = bot.new_texts(li, before)
            assert shown[0] == welcome
            assert "/new — 提请重大事项研判或行政争议协调化解" in shown[1]
        (row,) = await rows(bot, t.members, t.members.c.user_id == LI)
        assert (row.org_code, row.role, row.display_name) == ("CBS-NR", "department_head", "李明")
        assert row.invited_by == ADMIN_ID and row.revoked_at is None
        (invite,) = await rows(bot, t.invites, t.invites.c.token_hash == token_digest(token))
        assert invite.used_by == LI
        joined = await rows(bot, t.events, t.events.c.action == "member_joined")
        assert [(e.actor_user_id, e.detail["via"]) for e in joined] == [
            (None, "committee file"),  # the bootstrap admin
            (LI, "invite"),
        ]


async def test_an_invite_link_used_by_someone_else(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        token = await new_invite(bot, NR, "部门负责人")
        li, wang = bot.user(LI, "李明"), bot.user(WANG, "王强")
        await bot.say(li, f"/start i_{token}")
        await bot.say(wang, f"/start i_{token}")
        assert bot.texts(wang) == ["⚠ 该邀请链接已被使用。请联系府院联动办公室重新获取。"]
        await bot.say(wang, "/start")
        assert bot.last_text(wang) == not_member_text(WANG)
        assert await rows(bot, t.members, t.members.c.user_id == WANG) == []
        (invite,) = await rows(bot, t.invites, t.invites.c.token_hash == token_digest(token))
        assert invite.used_by == LI


async def test_an_invite_link_expires_after_its_time(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        first = await new_invite(bot, NR, "部门负责人")
        second = await new_invite(bot, "长白山管委会生态环境局", "部门负责人")
        li, wang = bot.user(LI, "李明"), bot.user(WANG, "王强")
        bot.clock.advance(timedelta(hours=72) - timedelta(minutes=1))
        await bot.say(li, f"/start i_{first}")
        assert bot.texts(li)[0] == f"✅ 欢迎！您已以部门负责人身份加入{NR}。"
        bot.clock.advance(timedelta(minutes=1))  # exactly invite_ttl_hours after creation
        await bot.say(wang, f"/start i_{second}")
        assert bot.texts(wang) == ["⚠ 该邀请链接已过期。请联系府院联动办公室重新获取。"]
        assert await rows(bot, t.members, t.members.c.user_id == WANG) == []
        (invite,) = await rows(bot, t.invites, t.invites.c.token_hash == token_digest(second))
        assert invite.used_by is None


async def test_an_unknown_invite_link(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        stranger = bot.user(STRANGER, "路人甲")
        for payload in ("i_doesNotExist12345", "i_"):
            await bot.say(stranger, f"/start {payload}")
            assert bot.last_text(stranger) == "⚠ 该邀请链接无效。请联系府院联动办公室重新获取。"
        assert await rows(bot, t.members, t.members.c.user_id == STRANGER) == []


async def test_a_member_opening_another_invite_stays_where_they_are(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        token = await new_invite(bot, "长白山管委会生态环境局", "部门负责人")
        await bot.say(li, f"/start i_{token}")
        assert bot.last_text(li) == (
            f"⚠ 您已是{NR}的成员。如需变更，请先联系府院联动办公室撤销您的成员资格。"
        )
        (row,) = await rows(bot, t.members, t.members.c.user_id == LI)
        assert row.org_code == "CBS-NR"
        (invite,) = await rows(bot, t.invites, t.invites.c.token_hash == token_digest(token))
        assert invite.used_by is None
        # The link is still good for the person it was meant for.
        wang = bot.user(WANG, "王强")
        await bot.say(wang, f"/start i_{token}")
        assert bot.texts(wang)[0] == "✅ 欢迎！您已以部门负责人身份加入长白山管委会生态环境局。"


async def test_invite_and_members_are_for_the_office_only(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        stranger = bot.user(STRANGER, "路人甲")
        for user in (li, zhao, stranger):
            for command in ("/invite", "/members"):
                await bot.say(user, command)
                assert bot.last_text(user) == ADMIN_ONLY, (user.first_name, command)
        # Forged presses of the office's buttons change nothing.
        (zhao_row,) = await rows(bot, t.members, t.members.c.user_id == ZHAO)
        message = bot.fake.last_message_to(li)
        for data in ("i:mk:CBS-NR:office", "i:org:CBS-OFFICE", f"m:ok:{zhao_row.id}", "m:pg:0"):
            await bot.press(li, message=message, data=data)
            assert bot.alerts(li)[-1] == "仅府院联动办公室可进行此操作。"
        assert await rows(bot, t.invites, t.invites.c.created_by == LI) == []
        (zhao_row,) = await rows(bot, t.members, t.members.c.user_id == ZHAO)
        assert zhao_row.revoked_at is None
        assert "https://t.me/" not in all_seen(bot, li)


async def test_the_office_lists_and_revokes_a_member(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        office = admin(bot)
        await bot.say(office, "/members")
        listing = bot.last_with_buttons(office)
        assert listing["text"].startswith("成员（3） · 第1/1页")
        assert f"• 李明 — {NR}，部门负责人（2001）" in listing["text"]
        assert "• 赵法官 — 延边州中级人民法院，法院工作人员（3001）" in listing["text"]
        assert "（1001）" in listing["text"]
        # No button to revoke oneself.
        assert bot.labels(listing) == ["撤销李明", "撤销赵法官"]

        await bot.press(office, "撤销李明", message=listing)
        confirm = bot.fake.message(office, listing["message_id"])
        assert confirm["text"] == "确定撤销该成员资格吗？撤销后，该人员将无法查看或办理任何事项。"
        assert bot.labels(confirm) == ["确认撤销", "保留"]
        await bot.press(office, "保留", message=confirm)
        back = bot.fake.message(office, listing["message_id"])
        assert back["text"].startswith("成员（3）")
        (row,) = await rows(bot, t.members, t.members.c.user_id == LI)
        assert row.revoked_at is None

        bot.clock.advance(timedelta(minutes=5))
        await bot.press(office, "撤销李明", message=back)
        await bot.press(office, "确认撤销", message=bot.fake.message(office, back["message_id"]))
        assert bot.alerts(office)[-1] == "已撤销。"
        done = bot.fake.message(office, listing["message_id"])
        assert done["text"] == f"✅ 已撤销：李明（{NR}，部门负责人）。"
        assert "reply_markup" not in done

        (row,) = await rows(bot, t.members, t.members.c.user_id == LI)
        assert row.revoked_at == bot.clock.now() and row.revoked_by == ADMIN_ID
        revoked = await rows(bot, t.events, t.events.c.action == "member_revoked")
        assert [(e.actor_user_id, e.detail["user"]) for e in revoked] == [(ADMIN_ID, LI)]

        # The revoked user is a stranger again.
        for text in ("/start", "/my", "/new"):
            await bot.say(li, text)
            assert bot.last_text(li) == not_member_text(LI), text
        await bot.say(office, "/members")
        assert bot.last_text(office).startswith("成员（2） · 第1/1页")
        assert "李明" not in bot.last_text(office)


async def test_whoami_for_a_member_and_a_stranger(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        stranger = bot.user(STRANGER, "路人甲")
        await bot.say(li, "/whoami")
        assert bot.last_text(li) == (
            "Telegram 用户 ID：2001\n"
            f"所属单位：{NR}\n"
            "角色：部门负责人\n"
            "加入时间：2026年11月25日（周三）10:00\n"
            "语言：简体中文"
        )
        await bot.say(stranger, "/whoami")
        assert bot.last_text(stranger) == (
            "Telegram 用户 ID：9001\n您尚未加入府院联动工作委员会。\n语言：简体中文"
        )
        (row,) = await rows(bot, t.members, t.members.c.user_id == LI)
        assert row.joined_at == bot.clock.now() and row.org_code == "CBS-NR"
        assert await rows(bot, t.members, t.members.c.user_id == STRANGER) == []
        (user,) = await rows(bot, t.users, t.users.c.user_id == STRANGER)
        assert user.lang is None  # the default language, never chosen


async def test_bindgroup_needs_a_group_and_the_office(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        office = admin(bot)
        await bot.say(office, "/bindgroup")
        assert (
            bot.last_text(office) == "请以府院联动办公室成员身份在委员会工作群中发送 /bindgroup。"
        )
        group = bot.fake.group(-1009876543210, "闲聊群", add_bot=True)
        for user in (li, bot.user(STRANGER, "路人甲")):
            await bot.say(user, "/bindgroup", chat=group)
        # Before a group is bound, the bot says nothing in a group to anyone but the office.
        assert bot.fake.messages_to(group) == []
        assert await rows(bot, t.settings, ~t.settings.c.key.startswith("menu:")) == []
        assert await bot.svc.group_chat_id() is None
        assert await rows(bot, t.events, t.events.c.action == "group_bound") == []


async def test_lang_switches_and_is_stored(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/lang")
        choice = bot.last_with_buttons(li)
        assert choice["text"] == "请选择语言："
        assert bot.labels(choice) == ["简体中文", "English"]
        await bot.press(li, "English", message=choice)
        assert bot.fake.message(li, choice["message_id"])["text"] == "✅ Language set to English."
        (user,) = await rows(bot, t.users, t.users.c.user_id == LI)
        assert user.lang == "en"
        await bot.say(li, "/whoami")
        assert "Organisation: Natural Resources Bureau" in bot.last_text(li)
        assert bot.last_text(li).endswith("Language: English")

        await bot.say(li, "/lang")
        assert bot.last_text(li) == "Choose your language:"
        await bot.press(li, "简体中文")
        assert bot.last_text(li) == "✅ 语言已设置为简体中文。"
        (user,) = await rows(bot, t.users, t.users.c.user_id == LI)
        assert user.lang == "zh_CN"

        # A stranger may choose too, and is then told in their language that they are not in.
        stranger = bot.user(STRANGER, "Visitor", lang="en")
        await bot.say(stranger, "/lang")
        await bot.press(stranger, "English")
        await bot.say(stranger, "/start")
        assert bot.last_text(stranger).startswith(
            "Hello! This bot serves the members of the government–court linkage committee."
        )
        assert "9001" in bot.last_text(stranger)
        # A forged language is refused and stored nowhere.
        await bot.press(stranger, message=bot.fake.last_message_to(stranger), data="lang:fr")
        assert bot.alerts(stranger)[-1] == "This button is no longer active."
        async with bot.svc.db.read() as conn:
            langs = (
                await conn.execute(select(t.users.c.lang, func.count()).group_by(t.users.c.lang))
            ).all()
        assert "fr" not in {lang for lang, _ in langs}


async def test_a_double_tap_on_a_language(
    committee: Committee, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/lang")
        choice = bot.last_with_buttons(li)
        bot.fake.press(li, choice, "English")
        bot.fake.press(li, choice, "English")
        bot.allowed_errors.add(400)  # Telegram refuses the identical second edit
        await bot.deliver()
        bot.allowed_errors.discard(400)
        assert bot.fake.message(li, choice["message_id"])["text"] == "✅ Language set to English."
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        assert "Something went wrong" not in "\n".join(bot.alerts(li) + bot.texts(li))
        (user,) = await rows(bot, t.users, t.users.c.user_id == LI)
        assert user.lang == "en"


async def test_start_up_makes_the_committee_files_admin_an_office_member(
    committee: Committee, db_url: str
) -> None:
    """(Their command menu is tests/test_menus.py's.)"""
    async with running_bot(committee, db_url) as bot:
        (office,) = await rows(bot, t.members, t.members.c.user_id == ADMIN_ID)
        assert (office.org_code, office.role) == ("CBS-OFFICE", "office")
