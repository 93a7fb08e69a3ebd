"""A department head raises a dispute referral from the phone; the court acknowledges or returns it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests.conftest import ADMIN_ID
from tests.fakes.telegram import FakeUser
from tests.scenario import Harness, running_bot

LI, ZHAO, SUN = 2001, 3001, 3002
GROUP = -1001234567890


async def setup_members(bot: Harness) -> tuple[FakeUser, FakeUser, FakeUser]:
    li = bot.user(LI, "李明")
    zhao = bot.user(ZHAO, "赵法官")
    sun = bot.user(SUN, "孙书记员")
    await bot.join(li, "CBS-NR", Role.DEPARTMENT_HEAD)
    await bot.join(zhao, "YB-IPC", Role.COURT_STAFF)
    await bot.join(sun, "FUSONG-COURT", Role.COURT_STAFF)
    return li, zhao, sun


async def bind_group(bot: Harness) -> Any:
    admin = bot.user(ADMIN_ID, "办公室管理员")
    group = bot.fake.group(GROUP, "长白山府院联动群", add_bot=True)
    await bot.say(admin, "/bindgroup", chat=group)
    assert bot.last_text(group) == "✅ 本群已设为委员会工作群，新事项将在此通知。"
    assert await bot.svc.group_chat_id() == GROUP
    return group


async def raise_referral(bot: Harness, li: FakeUser) -> None:
    await bot.say(li, "/new")
    await bot.press(li, "行政争议协调化解")
    await bot.say(li, "某村土地征收补偿争议")
    await bot.say(li, "申请人对征收补偿标准有异议，已多次信访。\n请求协调化解。")
    await bot.say(li, "张三")
    await bot.press(li, "自然资源局")
    await bot.press(li, "池北行政争议协调化解中心")
    await bot.press(li, "紧急")
    await bot.press(li, "5个工作日")  # a quick choice: 5 working days from today
    await bot.send_document(li, "补偿方案.pdf", 120_000)
    await bot.press(li, "完成")


async def test_referral_acknowledged_end_to_end(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li, zhao, sun = await setup_members(bot)
        group = await bind_group(bot)
        await raise_referral(bot, li)

        summary = bot.last_with_buttons(li)
        assert "某村土地征收补偿争议" in summary["text"] and "张三" in summary["text"]
        assert "2026年12月2日（周三）" in summary["text"]
        assert bot.labels(summary)[0].endswith("提请")
        before_zhao = len(bot.texts(zhao))
        await bot.press(li, "提请")

        receipt = bot.last_text(li)
        assert "协调〔2026〕1号" in receipt
        # The court answering for the Chibei center gets the matter privately, with buttons.
        note = bot.last_with_buttons(zhao)
        assert "协调〔2026〕1号" in note["text"] and "张三" in note["text"]
        assert bot.labels(note)[:2] == ["✅ 受理", "↩️ 退回"]
        assert len(bot.texts(zhao)) == before_zhao + 1
        # A court that does not staff that center hears nothing of it.
        assert not any("协调〔2026〕1号" in text for text in bot.texts(sun))
        # The group gets a short post without the applicant's name, with a deep link.
        post = bot.fake.last_message_to(group)
        assert "协调〔2026〕1号" in post["text"] and "张三" not in post["text"]
        ((_label, url),) = bot.fake.buttons(post)[0]
        assert url.startswith("https://t.me/fuyuan_test_bot?start=c_")

        # Another court's clerk presses the button (a forged press): refused, nothing changes.
        await bot.press(sun, data=bot.fake.buttons(note)[0][0][1], message=note)
        assert bot.alerts(sun)[-1] == "仅接收法院的工作人员可进行此操作。"
        case = await bot.svc.find_case("协调〔2026〕1号")
        assert case.status == "submitted"

        bot.clock.advance(__import__("datetime").timedelta(minutes=42))
        await bot.press(zhao, "受理", message=note)
        assert "受理" in bot.alerts(zhao)[-1]
        edited = bot.fake.message(zhao, note["message_id"])
        # The notice keeps its details under who acknowledged it, and offers the next step.
        assert edited["text"].startswith(
            "📌 已受理：赵法官（延边州中级人民法院），2026年11月25日（周三）10:42。"
        )
        assert "张三" in edited["text"] and "📎 1个文件" in edited["text"]
        assert "✅ 受理" not in bot.labels(edited) and "🏁 登记结果" in bot.labels(edited)
        assert "📎 附件（1）" in bot.labels(edited)
        raiser_note = bot.last_text(li)
        assert "协调〔2026〕1号" in raiser_note and "受理" in raiser_note

        # A repeated (stale) press says what happened, and changes nothing.
        await bot.press(zhao, data=f"v:acknowledge:{case.id}", message=note)
        assert bot.alerts(zhao)[-1] == "已由赵法官于2026年11月25日（周三）10:42受理。"

        async with bot.svc.db.read() as conn:
            row = (await conn.execute(select(t.cases))).one()
            assignment = (await conn.execute(select(t.assignments))).one()
            events = (
                await conn.execute(
                    select(
                        t.events.c.action,
                        t.events.c.actor_user_id,
                        t.events.c.from_status,
                        t.events.c.to_status,
                    )
                    .where(t.events.c.case_id == row.id)
                    .order_by(t.events.c.id)
                )
            ).all()
            files = (await conn.execute(select(t.case_files))).all()
        assert row.status == "acknowledged"
        assert (assignment.case_id, assignment.addressee) == (row.id, "CHIBEI-CENTER")
        assert (assignment.state, assignment.acted_by) == ("acknowledged", ZHAO)
        assert assignment.acted_at is not None
        assert row.fields["applicant"] == "张三" and row.fields["urgency"] == "urgent"
        assert row.fields["reply_by"] == "2026-12-02"
        assert [tuple(e) for e in events] == [
            ("submitted", LI, None, "submitted"),
            ("acknowledge", ZHAO, "submitted", "acknowledged"),
        ]
        assert [f.file_name for f in files] == ["补偿方案.pdf"]


async def test_referral_returned_with_a_reason(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li, zhao, _ = await setup_members(bot)
        await raise_referral(bot, li)
        await bot.press(li, "提请")
        note = bot.last_with_buttons(zhao)
        await bot.press(zhao, "退回", message=note)
        assert "理由" in bot.last_text(zhao)
        await bot.say(zhao, "   ")
        assert "空" in bot.last_text(zhao)
        await bot.say(zhao, "x" * 501)
        assert "500" in bot.last_text(zhao)
        await bot.say(zhao, "不属于行政争议受理范围，请通过信访渠道处理。")
        assert "退回" in bot.last_text(zhao)
        told = bot.last_text(li)
        assert "协调〔2026〕1号" in told and "不属于行政争议受理范围" in told
        case = await bot.svc.find_case("协调〔2026〕1号")
        assert case.status == "returned"
        assert case.return_reason == "不属于行政争议受理范围，请通过信访渠道处理。"
        # Pressing acknowledge on the old notification now tells who returned it.
        await bot.press(zhao, data=f"v:acknowledge:{case.id}", message=note)
        assert bot.alerts(zhao)[-1].startswith("已由赵法官") and "退回" in bot.alerts(zhao)[-1]
        assert await bot.svc.load_draft(ZHAO, "form") is None


async def test_whole_flow_in_english(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li, zhao, _ = await setup_members(bot)
        for user in (li, zhao):
            await bot.say(user, "/lang")
            await bot.press(user, "English")
            assert bot.last_text(user) == "✅ Language set to English."
        await bot.say(li, "/new")
        await bot.press(li, "Major-matter consultation")
        await bot.say(li, "Ski resort expansion plan")
        await bot.say(li, "Legal risks of the land lease model?")
        await bot.press(li, "Yanbian IPC")
        await bot.press(li, "Normal")
        await bot.press(li, "No specific date")
        await bot.press(li, "Done")
        assert "please check" in bot.last_text(li)
        await bot.press(li, "Submit")
        assert "研判〔2026〕1号" in bot.last_text(li)
        note = bot.last_with_buttons(zhao)
        assert "New matter for Yanbian Intermediate People's Court" in note["text"]
        await bot.press(zhao, "Acknowledge", message=note)
        assert "was acknowledged" in bot.last_text(li)
