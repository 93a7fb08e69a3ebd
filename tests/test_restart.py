"""Conversations survive a restart: the bot stops, a new Application starts on the same
database, and the user's next answer is taken for the question they were asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.flows import LI, ZHAO, member, rows
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


Step = Callable[[Harness, FakeUser], Awaitable[None]]


def say(text: str) -> Step:
    async def step(bot: Harness, user: FakeUser) -> None:
        await bot.say(user, text)

    return step


def press(label: str) -> Step:
    async def step(bot: Harness, user: FakeUser) -> None:
        await bot.press(user, label)

    return step


def document(name: str, size: int) -> Step:
    async def step(bot: Harness, user: FakeUser) -> None:
        await bot.send_document(user, name, size)

    return step


async def test_a_raise_conversation_survives_a_restart_at_every_step(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    async with running_bot(committee, db_url, clock) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        fake = bot.fake
    # Each step runs on a freshly started bot; the previous one was shut down.
    steps: list[tuple[Step, str]] = [
        (say("/new"), "AWAITING_KIND"),
        (press("行政争议协调化解"), "AWAITING_TEXT"),
        (say("某村土地征收补偿争议"), "AWAITING_TEXT"),
        (say("申请人对征收补偿标准有异议。"), "AWAITING_TEXT"),
        (say("张三"), "AWAITING_CHOICE"),
        (press("自然资源局"), "AWAITING_CHOICE"),
        (press("池北行政争议协调化解中心"), "AWAITING_CHOICE"),
        (press("紧急"), "AWAITING_DATE"),
        (press("📅 选择日期"), "AWAITING_DATE"),
        (press("▶"), "AWAITING_DATE"),
        (press("15"), "AWAITING_FILES"),
        (document("补偿方案.pdf", 120_000), "AWAITING_FILES"),
        (press("完成"), "AWAITING_CONFIRMATION"),
        (press("修改某项"), "AWAITING_FIELD_TO_EDIT"),
        (press("申请人"), "AWAITING_TEXT"),
        (say("张三、李四"), "AWAITING_CONFIRMATION"),
    ]
    for step, state in steps:
        clock.advance(timedelta(minutes=1))
        async with running_bot(committee, db_url, clock, fake=fake) as bot:
            li = bot.user(LI, "李明")
            before = len(bot.texts(li))
            await step(bot, li)
            texts = bot.new_texts(li, before)
            assert not any(text.startswith(("⚠", "未能理解")) for text in texts), texts
            draft = await bot.svc.load_draft(LI, "form")
            assert draft is not None and draft.state == state

    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        li = bot.user(LI, "李明")
        summary = bot.last_with_buttons(li)
        assert "申请人：张三、李四" in summary["text"]
        assert "期望答复日期：2026年12月15日（周二）" in summary["text"]
        await bot.press(li, "提请", message=summary)
        assert "协调〔2026〕1号" in bot.last_text(li)
        (case,) = await rows(bot, t.cases)
        assert case.title == "某村土地征收补偿争议"
        assert case.fields["description"] == "申请人对征收补偿标准有异议。"
        assert case.fields["applicant"] == "张三、李四"
        (assignment,) = await rows(bot, t.assignments)
        assert (assignment.case_id, assignment.addressee) == (case.id, "CHIBEI-CENTER")
        assert case.fields["urgency"] == "urgent"
        assert case.fields["reply_by"] == "2026-12-15"
        assert [f.file_name for f in await rows(bot, t.case_files)] == ["补偿方案.pdf"]
        assert await rows(bot, t.drafts) == []
        assert "协调〔2026〕1号" in bot.last_text(ZHAO)


async def test_a_raise_conversation_continues_with_a_new_telegram_connection(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    async with running_bot(committee, db_url, clock) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        assert bot.last_text(li).startswith("✔ 重大事项研判\n\n1/6 · 标题")

    # A new fake Bot API that knows the same people but none of the old messages. Telegram's
    # update ids keep increasing, so the new one continues them (a repeated id is a redelivery).
    fresh = FakeTelegram(now=lambda: clock.now().timestamp(), first_update_id=1_000_000)
    async with running_bot(committee, db_url, clock, fake=fresh) as bot:
        li = bot.user(LI, "李明")
        await bot.say(li, "滑雪场扩建项目土地租赁模式法律风险")
        assert bot.last_text(li).startswith("2/6 · 情况说明")
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None
        assert draft.data["values"] == {"title": "滑雪场扩建项目土地租赁模式法律风险"}
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        await bot.press(li, "延边中院")
        await bot.press(li, "一般")
        await bot.say(li, "12月3日")
        await bot.press(li, "完成")
        await bot.press(li, "提请")
        assert "研判〔2026〕1号" in bot.last_text(li)
        (case,) = await rows(bot, t.cases)
        assert case.title == "滑雪场扩建项目土地租赁模式法律风险"
        assert case.fields["reply_by"] == "2026-12-03"
        assert await rows(bot, t.drafts) == []


async def court_clerk_asked_for_a_reason(bot: Harness) -> tuple[FakeUser, FakeUser]:
    li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    await bot.say(li, "/new")
    await bot.press(li, "重大事项研判")
    await bot.say(li, "滑雪场扩建项目")
    await bot.say(li, "请研判。")
    await bot.press(li, "延边中院")
    await bot.press(li, "一般")
    await bot.press(li, "不指定日期")
    await bot.press(li, "完成")
    await bot.press(li, "提请")
    await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
    assert bot.last_text(zhao) == (
        "↩️ 正在退回研判〔2026〕1号。请选择下方的常见理由，或用一条消息发送其他理由（最多500字）。"
    )
    return li, zhao


async def test_a_return_waiting_for_its_reason_survives_a_restart(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    async with running_bot(committee, db_url, clock) as bot:
        await court_clerk_asked_for_a_reason(bot)
        fake = bot.fake
        draft = await bot.svc.load_draft(ZHAO, "form")
        assert draft is not None and draft.state == "AWAITING_TEXT"
        (case,) = await rows(bot, t.cases)
        assert (draft.data["action"], draft.data["case_id"]) == ("return", case.id)

    clock.advance(timedelta(minutes=30))
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        li, zhao = bot.user(LI, "李明"), bot.user(ZHAO, "赵法官")
        await bot.say(zhao, "请先征求自然资源部门意见后再提请。")
        assert bot.last_text(zhao) == (
            "↩️ 研判〔2026〕1号已由赵法官于2026年11月25日（周三）10:30退回。\n"
            "理由：请先征求自然资源部门意见后再提请。\n"
            "标题：滑雪场扩建项目"
        )
        assert "研判〔2026〕1号" in bot.last_text(li) and "请先征求" in bot.last_text(li)
        (case,) = await rows(bot, t.cases)
        (assignment,) = await rows(bot, t.assignments)
        assert case.status == "returned" and assignment.state == "returned"
        assert assignment.acted_by == ZHAO
        assert assignment.note == "请先征求自然资源部门意见后再提请。"
        assert await rows(bot, t.drafts) == []
        # The conversation ended: the next text is not taken as a reason.
        await bot.say(zhao, "补充一句")
        assert bot.last_text(zhao) == "未能理解您的消息。请使用菜单或发送 /help。"


async def test_a_return_can_be_cancelled_after_a_restart(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    async with running_bot(committee, db_url, clock) as bot:
        await court_clerk_asked_for_a_reason(bot)
        fake = bot.fake

    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        zhao = bot.user(ZHAO, "赵法官")
        await bot.press(zhao, "取消")
        assert bot.last_text(zhao) == "已取消，该事项未退回。"
        (case,) = await rows(bot, t.cases)
        (assignment,) = await rows(bot, t.assignments)
        assert case.status == "submitted" and assignment.state == "submitted"
        assert assignment.note is None and assignment.acted_by is None
        assert await rows(bot, t.drafts) == []
        await bot.say(zhao, "不予受理")
        assert bot.last_text(zhao) == "未能理解您的消息。请使用菜单或发送 /help。"
        assert (await rows(bot, t.cases))[0].status == "submitted"
