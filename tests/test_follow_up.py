"""Every matter carried to its outcome: notes from both sides, a request for more information
that stops the clock, a handler who alone gets the first warnings, a withdrawal, a reopening
with fresh deadlines, and a returned matter edited and submitted again under its number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Case, Role
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import (
    LI,
    SUN,
    ZHAO,
    admin,
    alert_entries,
    bind_group,
    deadline_keys,
    member,
    rows,
    seed_case,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


WU = 3003


async def assignment(bot: Harness, case: Case) -> Any:
    (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
    return row


def alerts_to(bot: Harness, user: FakeUser, case: Case) -> list[str]:
    """The matter's entries in the deadline summaries and 督办 messages the user got."""
    return [
        x
        for x in alert_entries(bot, user)
        if x.split("\n")[0].split(" ", 1)[1].startswith((f"{case.number}「", f"{case.number}（"))
    ]


async def test_more_information_stops_the_clock_and_a_handler_gets_the_warnings(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        wu = await member(bot, WU, "吴法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "景区道路改扩建项目法律风险研判")
        await bot.flush_outbox()
        await bot.press(zhao, "受理", message=bot.last_with_buttons(zhao))
        due_before = (await assignment(bot, case)).due
        assert due_before == date(2026, 12, 9)  # 10 working days after Wednesday 25 November

        # The court asks for more: the raiser is told, the clock stops.
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, "❓ 请求补充")
        await bot.say(zhao, "请补充项目立项批复和环评文件。")
        row = await assignment(bot, case)
        assert row.paused_since == date(2026, 11, 25) and row.due is None
        asked = bot.last_with_buttons(li)
        assert "请补充项目立项批复和环评文件。" in asked["text"]
        assert "📨 补充材料" in bot.labels(asked)

        # Two working days later the raiser answers with a document: the deadline moves by two.
        bot.clock.set(datetime(2026, 11, 27, 15, 0, tzinfo=SHANGHAI))
        await bot.press(li, "📨 补充材料", message=asked)
        await bot.say(li, "已补充立项批复，环评正在办理。")
        await bot.send_document(li, "立项批复.pdf", 90_000)
        await bot.press(li, "完成")
        row = await assignment(bot, case)
        assert row.paused_since is None and row.paused_days == 2
        assert row.due == date(2026, 12, 11)
        told = [x for x in bot.texts(zhao) if "已补充立项批复" in x and x.startswith("🔔")]
        assert len(told) == 1 and "1个文件" in told[0]
        # His notice says so too, above its details.
        notice = [x for x in bot.texts(zhao) if x.startswith("📌 已补充材料：李明")]
        assert len(notice) == 1 and "答复：已补充立项批复" in notice[0]
        assert len((await bot.svc.get_case(case.id)).files) == 1

        # The court makes 吴法官 the handler: from now on he alone gets the first warnings.
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, "👤 指定承办人")
        await bot.press(zhao, "吴法官")
        assert (await assignment(bot, case)).handler_user_id == WU
        assert any(case.number in x for x in bot.texts(wu))
        await bot.tick(datetime(2026, 12, 10, 9, 0, tzinfo=SHANGHAI))  # one working day before
        assert len(alerts_to(bot, wu, case)) == 1 and alerts_to(bot, zhao, case) == []
        await bot.tick(datetime(2026, 12, 14, 9, 0, tzinfo=SHANGHAI))  # overdue
        assert len(alerts_to(bot, wu, case)) == 2 and alerts_to(bot, zhao, case) == []
        await bot.tick(datetime(2026, 12, 16, 9, 0, tzinfo=SHANGHAI))  # 督办: the whole court
        # The 督办 round on its own, and the matter in that morning's summary.
        assert len(alerts_to(bot, wu, case)) == 4 and len(alerts_to(bot, zhao, case)) == 2
        assert [x[0] for x in alerts_to(bot, zhao, case)] == ["🚨", "🚨"]

        # Notes from both sides reach the other side and stay in the history.
        await bot.say(li, f"/case {case.number}")
        await bot.press(li, "📝 添加说明")
        await bot.say(li, "项目已列入明年重点工程，请优先研判。")
        await bot.press(li, "完成")
        assert any("请优先研判" in x for x in bot.texts(wu))
        await bot.say(zhao, f"/case {case.number}")
        shown = bot.last_text(zhao)
        for line in ("已请求补充材料", "已补充材料", "已指定承办人", "已添加说明", "请优先研判"):
            assert line in shown, shown
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [e.action for e in events] == [
            "submitted",
            "acknowledge",
            "request_info",
            "provide_info",
            "assign",
            "raiser_note",
        ]


async def test_withdrawn_then_reopened_with_fresh_deadlines(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        group = await bind_group(bot)
        case = await seed_case(bot, LI, "李明", "温泉开发规划调整研判")
        await bot.flush_outbox()
        notice = bot.last_with_buttons(zhao)

        await bot.say(li, f"/case {case.number}")
        await bot.press(li, "✖ 撤回")
        await bot.say(li, "规划调整暂缓。")
        after = await bot.svc.get_case(case.id)
        assert after.status == "withdrawn" and (await assignment(bot, case)).due is None
        assert any("规划调整暂缓" in x for x in bot.texts(zhao))
        # The notice lost its buttons; one pressed on a copy not yet updated is refused.
        assert "reply_markup" not in bot.fake.message(zhao, notice["message_id"])
        await bot.press(zhao, message=notice, data=f"v:acknowledge:{case.id}")
        assert bot.alerts(zhao)[-1] == "该事项已撤回。"

        # A week later the office reopens it: deadlines count afresh, alerts start over.
        bot.clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))
        office = admin(bot)
        await bot.say(office, f"/case {case.number}")
        await bot.press(office, "🔄 重新办理")
        await bot.say(office, "管委会决定继续推进。")
        row = await assignment(bot, case)
        assert (row.state, row.round, row.stage, row.due) == (
            "submitted",
            1,
            "ack",
            date(2026, 12, 7),
        )
        assert any("管委会决定继续推进" in x for x in bot.texts(li))
        assert any("管委会决定继续推进" in x for x in bot.texts(zhao))
        await bot.tick(datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI))
        keys = await deadline_keys(bot)
        assert f"case:{case.id}:r1:ack:overdue:{ZHAO}" in keys
        assert any(x.startswith(f"🔴 {case.number}") for x in alert_entries(bot, group))


async def test_a_returned_matter_is_edited_and_submitted_again_under_its_number(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "林地占用研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        await bot.say(zhao, "请补充林地权属证明。")

        returned = bot.last_with_buttons(li)
        assert "请补充林地权属证明。" in returned["text"]
        await bot.press(li, "✏ 修改后重新提请", message=returned)
        summary = bot.last_text(li)
        assert "林地占用研判" in summary and "已填入原先的内容" in summary
        await bot.press(li, "修改某项")
        await bot.press(li, "标题")
        await bot.say(li, "林地占用研判（附权属证明）")
        await bot.press(li, "提请")
        assert f"已重新提请，编号仍为{case.number}。" in bot.last_text(li)

        again = await bot.svc.get_case(case.id)
        assert again.status == "submitted" and again.title == "林地占用研判（附权属证明）"
        row = await assignment(bot, case)
        assert (row.round, row.stage, row.note) == (1, "ack", None)
        assert len(await rows(bot, t.cases)) == 1  # no new number was used
        notices = [x for x in bot.texts(zhao) if "林地占用研判（附权属证明）" in x]
        assert len(notices) == 1 and "受理" in str(bot.last_with_buttons(zhao))
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [e.action for e in events] == ["submitted", "return", "resubmit"]


async def test_a_returned_matter_sent_to_another_court_goes_there(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        sun = await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "温泉开发规划调整研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        await bot.say(zhao, "应由抚松县人民法院研判。")
        await bot.press(li, "✏ 修改后重新提请", message=bot.last_with_buttons(li))
        await bot.press(li, "修改某项")
        await bot.press(li, "接收单位")
        await bot.press(li, "抚松法院")
        before = len(bot.texts(zhao))
        await bot.press(li, "提请")
        row = await assignment(bot, case)
        assert (row.addressee, row.state, row.handler_user_id) == (
            "FUSONG-COURT",
            "submitted",
            None,
        )
        assert any(case.number in x for x in bot.texts(sun))
        assert not [x for x in bot.new_texts(zhao, before) if case.number in x]
        await bot.press(sun, "受理", message=bot.last_with_buttons(sun))
        assert (await bot.svc.get_case(case.id)).status == "acknowledged"


async def test_a_revoked_handler_hands_the_matter_back_to_the_court(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        wu = await member(bot, WU, "吴法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "景区道路改扩建项目法律风险研判")
        await bot.flush_outbox()
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, "👤 指定承办人")
        await bot.press(zhao, "吴法官")
        assert (await assignment(bot, case)).handler_user_id == WU

        office = admin(bot)
        await bot.say(office, "/members")
        await bot.press(office, "撤销吴法官")
        await bot.press(office, "确认撤销")
        assert (await assignment(bot, case)).handler_user_id is None
        wu_before = len(bot.texts(wu))
        await bot.say(li, f"/case {case.number}")
        await bot.press(li, "📝 添加说明")
        await bot.say(li, "补充：项目已取得用地预审意见。")
        await bot.press(li, "完成")
        assert any("用地预审意见" in x for x in bot.texts(zhao))
        assert bot.new_texts(wu, wu_before) == []


async def test_a_resubmission_after_someone_else_moved_the_matter_says_so(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "林地占用研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        await bot.say(zhao, "请补充林地权属证明。")
        await bot.press(li, "✏ 修改后重新提请", message=bot.last_with_buttons(li))
        summary = bot.last_with_buttons(li)

        office = admin(bot)
        await bot.say(office, f"/case {case.number}")
        await bot.press(office, "🔄 重新办理")
        await bot.say(office, "按原材料继续办理。")

        await bot.press(li, "提请", message=summary)
        assert "您的修改未提交" in bot.last_text(li)
        assert "已重新提请" not in bot.last_text(li)
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [e.action for e in events] == ["submitted", "return", "reopen"]
