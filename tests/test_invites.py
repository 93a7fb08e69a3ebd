"""Invite links after they are handed out: they end with their creator's membership, the
office lists and withdraws them, and the database keeps only their hashes."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.logs import RedactingFilter, RedactingFormatter
from bot.storage import schema as t
from tests.conftest import ADMIN_ID
from tests.fakes.telegram import FakeUser
from tests.flows import LI, STRANGER, WANG, ZHAO, admin, member, not_member_text, rows
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


HAN = 1002  # a second office admin
NR = "长白山管委会自然资源局"
ENV = "长白山管委会生态环境局"
OFFICE = "长白山管委会府院联动办公室"
WITHDRAWN = "⚠ 该邀请链接已被收回。请联系府院联动办公室重新获取。"
STALE = "该按钮已失效。"
OFFICE_ONLY = "仅府院联动办公室可进行此操作。"
NOT_OPEN = "⚠ 该邀请链接已失效：已被使用、已被收回或已过期。"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def link_from(bot: Harness, user: FakeUser, org_name: str, role_label: str) -> str:
    """``user`` (an office admin) makes an invite link with /invite; returns its token."""
    await bot.say(user, "/invite")
    await bot.press(user, org_name)
    await bot.press(user, role_label)
    link = re.search(r"https://t\.me/\S+\?start=i_(\S+)", bot.last_text(user))
    assert link is not None, bot.last_text(user)
    return link.group(1)


async def revoke(bot: Harness, office: FakeUser, name: str) -> None:
    """``office`` revokes ``name`` through /members, confirming."""
    await bot.say(office, "/members")
    await bot.press(office, f"撤销{name}")
    await bot.press(office, "确认撤销")
    assert bot.alerts(office)[-1] == "已撤销。"


async def test_a_revoked_admin_cannot_come_back_through_their_own_link(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        han = await member(bot, HAN, "韩主任", "CBS-OFFICE", Role.OFFICE)
        own = await link_from(bot, han, OFFICE, "办公室")
        handed_out = await link_from(bot, han, NR, "部门负责人")
        kept = await link_from(bot, admin(bot), ENV, "部门负责人")

        bot.clock.advance(timedelta(minutes=10))
        await revoke(bot, admin(bot), "韩主任")
        revoked_at = bot.clock.now()

        bot.clock.advance(timedelta(minutes=10))
        await bot.say(han, f"/start i_{own}")
        assert bot.last_text(han) == WITHDRAWN
        await bot.say(han, "/invite")
        assert bot.last_text(han) == "⚠ 仅府院联动办公室可进行此操作。"
        li = bot.user(LI, "李明")
        await bot.say(li, f"/start i_{handed_out}")
        assert bot.texts(li) == [WITHDRAWN]
        await bot.say(li, "/start")
        assert bot.last_text(li) == not_member_text(LI)
        # The other admin's link is not touched.
        wang = bot.user(WANG, "王强")
        await bot.say(wang, f"/start i_{kept}")
        assert bot.texts(wang)[0] == f"✅ 欢迎！您已以部门负责人身份加入{ENV}。"

        assert [
            r.user_id for r in await rows(bot, t.members, t.members.c.revoked_at.is_(None))
        ] == [
            ADMIN_ID,
            WANG,
        ]
        for token in (own, handed_out):
            (row,) = await rows(bot, t.invites, t.invites.c.token_hash == digest(token))
            assert (row.withdrawn_at, row.withdrawn_by, row.used_by) == (revoked_at, ADMIN_ID, None)
        (row,) = await rows(bot, t.invites, t.invites.c.token_hash == digest(kept))
        assert row.withdrawn_at is None and row.used_by == WANG
        withdrawn = await rows(bot, t.events, t.events.c.action == "invite_withdrawn")
        assert [(e.actor_user_id, e.at, e.detail["reason"]) for e in withdrawn] == [
            (ADMIN_ID, revoked_at, "creator_revoked")
        ] * 2
        assert {(e.detail["org"], e.detail["role"]) for e in withdrawn} == {
            ("CBS-OFFICE", "office"),
            ("CBS-NR", "department_head"),
        }


async def test_a_revoked_admin_invited_again_does_not_revive_their_old_links(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        han = await member(bot, HAN, "韩主任", "CBS-OFFICE", Role.OFFICE)
        old = await link_from(bot, han, NR, "部门负责人")
        bot.clock.advance(timedelta(minutes=1))
        await revoke(bot, admin(bot), "韩主任")
        bot.clock.advance(timedelta(minutes=1))
        await bot.join(han, "CBS-OFFICE", Role.OFFICE)
        assert bot.texts(han)[-2] == f"✅ 欢迎！您已以府院联动办公室身份加入{OFFICE}。"
        li = bot.user(LI, "李明")
        await bot.say(li, f"/start i_{old}")
        assert bot.texts(li) == [WITHDRAWN]
        assert await rows(bot, t.members, t.members.c.user_id == LI) == []


async def test_the_office_lists_and_withdraws_open_links(
    committee: Committee, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/invites")
        assert bot.last_text(office) == "有效邀请链接（0） · 第1/1页\n\n暂无有效的邀请链接。"

        han = await member(bot, HAN, "韩主任", "CBS-OFFICE", Role.OFFICE)
        first = await link_from(bot, office, NR, "部门负责人")
        bot.clock.advance(timedelta(hours=1))
        second = await link_from(bot, han, "延边州中级人民法院", "法院工作人员")
        used = await link_from(bot, office, ENV, "部门负责人")
        await bot.say(bot.user(WANG, "王强"), f"/start i_{used}")

        # The other admin sees the same list: every open link, whoever made it.
        await bot.say(han, "/invites")
        listing = bot.last_with_buttons(han)
        assert listing["text"] == (
            "有效邀请链接（2） · 第1/1页\n\n"
            f"1. {NR}（部门负责人）\n"
            "   由admin 1001生成，有效期至2026年11月28日（周六）10:00\n"
            "2. 延边州中级人民法院（法院工作人员）\n"
            "   由韩主任生成，有效期至2026年11月28日（周六）11:00"
        )
        assert bot.labels(listing) == ["收回1", "收回2"]
        shown = "\n".join(bot.texts(han) + bot.texts(office))
        assert first not in shown.replace(f"start=i_{first}", "")  # only in its own message

        await bot.press(han, "收回1", message=listing)
        confirm = bot.fake.message(han, listing["message_id"])
        assert confirm["text"].startswith(
            "确定收回该邀请链接吗？收回后，持有该链接的人员将无法通过它加入。"
        )
        assert NR in confirm["text"]
        assert bot.labels(confirm) == ["确认收回", "保留"]
        await bot.press(han, "保留", message=confirm)
        assert bot.fake.message(han, listing["message_id"])["text"].startswith("有效邀请链接（2）")
        (row,) = await rows(bot, t.invites, t.invites.c.token_hash == digest(first))
        assert row.withdrawn_at is None

        bot.clock.advance(timedelta(minutes=5))
        await bot.press(han, "收回1", message=bot.fake.message(han, listing["message_id"]))
        confirm = bot.fake.message(han, listing["message_id"])
        await bot.press(han, "确认收回", message=confirm)
        assert bot.alerts(han)[-1] == "已收回。"
        done = bot.fake.message(han, listing["message_id"])
        assert done["text"] == f"✅ 已收回：{NR}（部门负责人）的邀请链接，由admin 1001生成。"
        assert "reply_markup" not in done
        (row,) = await rows(bot, t.invites, t.invites.c.token_hash == digest(first))
        assert (row.withdrawn_at, row.withdrawn_by) == (bot.clock.now(), HAN)
        (event,) = await rows(bot, t.events, t.events.c.action == "invite_withdrawn")
        assert (event.actor_user_id, event.detail["invite"], event.detail["reason"]) == (
            HAN,
            row.id,
            "office",
        )

        # The same confirmation pressed again (a double tap) withdraws nothing more.
        await bot.press(han, message=confirm, data=f"iv:ok:{row.id}")
        assert bot.alerts(han)[-1] == "未收回。"
        assert bot.last_text(han) == NOT_OPEN
        assert len(await rows(bot, t.events, t.events.c.action == "invite_withdrawn")) == 1

        li = bot.user(LI, "李明")
        await bot.say(li, f"/start i_{first}")
        assert bot.texts(li) == [WITHDRAWN]
        assert await rows(bot, t.members, t.members.c.user_id == LI) == []

        await bot.say(office, "/invites")
        assert bot.last_text(office).startswith("有效邀请链接（1） · 第1/1页")
        assert "延边州中级人民法院" in bot.last_text(office)
        # An expired link is not open any more.
        bot.clock.advance(timedelta(hours=72))
        await bot.say(office, "/invites")
        assert bot.last_text(office) == "有效邀请链接（0） · 第1/1页\n\n暂无有效的邀请链接。"
        zhao = bot.user(ZHAO, "赵法官")
        await bot.say(zhao, f"/start i_{second}")
        assert bot.texts(zhao) == ["⚠ 该邀请链接已过期。请联系府院联动办公室重新获取。"]

    # No token in any log line, even at DEBUG, where the library logs every call it makes.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "start=i_<invite>" in logged  # the link the office was sent, as the library logs it
    for token in (first, second, used):
        assert token not in logged


async def test_the_list_pages_and_shows_no_token(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        tokens = []
        for _ in range(7):
            tokens.append(await link_from(bot, office, NR, "部门负责人"))
            bot.clock.advance(timedelta(minutes=1))
        await bot.say(office, "/invites")
        page = bot.last_with_buttons(office)
        assert page["text"].startswith("有效邀请链接（7） · 第1/2页")
        assert bot.labels(page) == [f"收回{n}" for n in range(1, 7)] + ["下一页 ▶"]
        await bot.press(office, "下一页 ▶", message=page)
        second = bot.fake.message(office, page["message_id"])
        assert second["text"].startswith("有效邀请链接（7） · 第2/2页")
        assert "\n7. " in second["text"]
        assert bot.labels(second) == ["收回7", "◀ 上一页"]
        for text in (page["text"], second["text"]):
            assert not [token for token in tokens if token in text]
        # The seventh link (the one expiring last) is withdrawn from the second page.
        await bot.press(office, "收回7", message=second)
        await bot.press(office, "确认收回")
        (row,) = await rows(bot, t.invites, t.invites.c.token_hash == digest(tokens[-1]))
        assert row.withdrawn_by == ADMIN_ID


async def test_forged_or_malformed_withdraw_presses_are_refused(
    committee: Committee, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        office = admin(bot)
        token = await link_from(bot, office, ENV, "部门负责人")
        (row,) = await rows(bot, t.invites, t.invites.c.token_hash == digest(token))
        stranger = bot.user(STRANGER, "路人甲")
        await bot.say(stranger, "/invites")
        assert bot.last_text(stranger) == "⚠ 仅府院联动办公室可进行此操作。"
        await bot.say(li, "/invites")
        assert bot.last_text(li) == "⚠ 仅府院联动办公室可进行此操作。"
        for user in (li, stranger):
            message = bot.fake.last_message_to(user)
            for data in (f"iv:ok:{row.id}", f"iv:wd:{row.id}", "iv:pg:0"):
                await bot.press(user, message=message, data=data)
                assert bot.alerts(user)[-1] == OFFICE_ONLY, (user.first_name, data)

        await bot.say(office, "/invites")
        message = bot.fake.last_message_to(office)
        big = "9" * 30
        for data in (
            "iv:ok:abc",
            "iv:ok:-1",
            "iv:ok:²",
            "iv:ok:１",
            f"iv:ok:{big}",
            f"iv:pg:{big}",
            f"iv:ok:{row.id}:1",
            "iv:zz:1",
            "iv:ok",
            "iv:",
            "iv",
            "iv:pg:5",
        ):
            await bot.press(office, message=message, data=data)
            assert bot.alerts(office)[-1] == STALE, data
        await bot.press(office, message=message, data="iv:ok:999999")
        assert bot.alerts(office)[-1] == "未收回。"
        assert bot.last_text(office) == NOT_OPEN

        (row,) = await rows(bot, t.invites, t.invites.c.id == row.id)
        assert row.withdrawn_at is None and row.withdrawn_by is None
        assert await rows(bot, t.events, t.events.c.action == "invite_withdrawn") == []
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        # The link still works for the person it was meant for.
        wang = bot.user(WANG, "王强")
        await bot.say(wang, f"/start i_{token}")
        assert bot.texts(wang)[0] == f"✅ 欢迎！您已以部门负责人身份加入{ENV}。"


async def test_the_database_keeps_hashes_only(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        token = await link_from(bot, admin(bot), NR, "部门负责人")
        (row,) = await rows(bot, t.invites)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(tuple(row))
        (event,) = await rows(bot, t.events, t.events.c.action == "invite_created")
        assert token not in repr(tuple(event)) and event.detail["invite"] == row.id
        li = bot.user(LI, "李明")
        await bot.say(li, f"/start i_{token}")
        assert bot.texts(li)[0] == f"✅ 欢迎！您已以部门负责人身份加入{NR}。"
        # Opening a link with the hash instead of the token does nothing.
        wang = bot.user(WANG, "王强")
        await bot.say(wang, f"/start i_{row.token_hash}")
        assert bot.texts(wang) == ["⚠ 该邀请链接无效。请联系府院联动办公室重新获取。"]


async def test_a_double_pressed_role_button_makes_one_link(
    committee: Committee, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/invite")
        await bot.press(office, NR)
        menu = bot.last_with_buttons(office)
        bot.fake.press(office, menu, "部门负责人")
        bot.fake.press(office, menu, "部门负责人")
        await bot.deliver()
        assert len(await rows(bot, t.invites)) == 1
        assert len(await rows(bot, t.events, t.events.c.action == "invite_created")) == 1
        assert bot.alerts(office)[-1] == STALE
        assert bot.fake.message(office, menu["message_id"])["text"].startswith(
            f"✅ {NR}（部门负责人）的邀请链接："
        )
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        # A new menu makes a new link.
        await link_from(bot, office, NR, "部门负责人")
        assert len(await rows(bot, t.invites)) == 2


def test_the_log_redaction_removes_invite_tokens() -> None:
    """The bot's formatter, and the filter on the library's loggers, hide a link's token in
    both directions: the link sent to the office and the /start the invited person sends."""
    sent = "sendMessage {'text': 'https://t.me/fuyuan_bot?start=i_WriGPW_0wpIQ3TkI'}"
    received = "getUpdates [{'message': {'text': '/start i_-WZ7q9tYqLbdjzg9'}}]"
    for text in (sent, received):
        record = logging.LogRecord(
            "telegram.ext.ExtBot", logging.DEBUG, __file__, 1, text, None, None
        )
        assert RedactingFilter().filter(record)
        shown = RedactingFormatter("%(message)s", "").format(record)
        assert "WriGPW_0wpIQ3TkI" not in shown and "-WZ7q9tYqLbdjzg9" not in shown
        assert "i_<invite>" in record.getMessage()
