"""/calendar: the office pastes the State Council's notice, checks it as a month view and
confirms it; deadlines count on it at once, open matters' deadlines move, and it stays after a
restart. Anyone else is refused; a malformed notice is named; Cancel stores nothing."""

from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.holiday_notice import parse_notice
from bot.domain.models import Role
from bot.domain.workdays import CalendarOverrides, WorkingCalendar
from bot.services.holiday_calendar import schedule_of
from bot.storage import schema as t
from tests.conftest import ADMIN_ID, SHANGHAI
from tests.flows import LI, ZHAO, admin, member, rows, seed_case
from tests.house_style import english_slips, slips
from tests.notices import NOTICE_2027, NOTICES
from tests.scenario import Harness, running_bot
from tests.test_stats import table_of

WANG_OFFICE = 1002  # a second member of the office


def _prose(message: dict[str, Any]) -> str:
    """A message's text without its monospace blocks: month grids are tables, not prose."""
    units = str(message.get("text", "")).encode("utf-16-le")
    for entity in sorted(message.get("entities", []), key=lambda e: -int(e["offset"])):
        if entity["type"] == "pre":
            start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
            units = units[:start] + units[end:]
    return units.decode("utf-16-le")


def _data(message: dict[str, Any], label: str) -> str:
    """A button's data as the message was sent (its keyboard may be gone since)."""
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["text"] == label:
                return str(button["callback_data"])
    raise AssertionError(label)


def _assert_house_style(text: str) -> None:
    assert slips(text) == [], slips(text)


async def _referral_acknowledged(bot: Harness) -> int:
    """A referral raised on Thursday 24 December 2026 and acknowledged: its reply deadline
    of 30 working days ends, on the package's estimate of 2027, on Thursday 11 February."""
    zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    case = await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
    await bot.flush_outbox()
    await bot.press(zhao, "✅ 受理")
    (assignment,) = await rows(bot, t.assignments)
    assert (assignment.state, assignment.stage) == ("acknowledged", "reply")
    assert assignment.due == date(2027, 2, 11)
    return case.id


async def test_the_office_confirms_a_notice_and_deadlines_move(
    committee: Committee, db_url: str
) -> None:
    clock = ManualClock(datetime(2026, 12, 24, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        office = admin(bot)
        colleague = await member(bot, WANG_OFFICE, "王主任", "CBS-OFFICE", Role.OFFICE)
        case_id = await _referral_acknowledged(bot)
        number = (await rows(bot, t.cases))[0].number

        await bot.say(office, "/calendar")
        asked = bot.last_text(office)
        assert "国务院办公厅关于…年部分节假日安排的通知" in asked
        _assert_house_style(asked)

        await bot.say(office, NOTICE_2027)
        preview = bot.last_with_buttons(office)
        text = preview["text"]
        assert "2027年节假日安排（根据通知读取）" in text
        assert "春节：2027年2月5日（周五）至2027年2月12日（周五），8天" in text
        assert "调休上班：2027年2月14日（周日）、2027年2月20日（周六）" in text
        # The month view of February: the holiday marked *, the make-up days +.
        february = text.split("\n2027年2月\n")[1].split("\n\n")[0].splitlines()
        assert february == [
            "一  二  三  四  五  六  日",
            " 1   2   3   4   5*  6*  7*",
            " 8*  9* 10* 11* 12* 13  14+",
            "15  16  17  18  19  20+ 21",
            "22  23  24  25  26  27  28",
        ]
        assert "*为放假，+为调休上班" in text
        _assert_house_style(_prose(preview))
        assert bot.labels(preview) == ["✅ 确认", "✖ 取消"]
        # Nothing is stored before the office confirms, and deadlines have not moved.
        assert await rows(bot, t.calendar_years) == []
        assert bot.svc.calendar.is_working_day(date(2027, 2, 11))

        await bot.press(office, "✅ 确认")
        (stored,) = await rows(bot, t.calendar_years)
        assert stored.year == 2027
        assert stored.confirmed_by == ADMIN_ID
        assert stored.source_sha256 == hashlib.sha256(NOTICE_2027.encode()).hexdigest()
        assert "2027-02-14" in stored.workdays
        assert [h["names"] for h in stored.holidays][1] == ["春节"]
        # The calendar counts on it at once: the matter's reply deadline moved with it.
        calendar = bot.svc.calendar
        assert not calendar.is_working_day(date(2027, 2, 11))
        assert calendar.is_working_day(date(2027, 2, 14))
        assert calendar.source(date(2027, 6, 1)) == "notice"
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.due == date(2027, 2, 14)
        assert assignment.dues["reply"] == "2027-02-14"
        saved = bot.last_text(office)
        assert "2027年节假日安排已保存" in saved
        assert f"• {number}：2027年2月11日（周四） → 2027年2月14日（周日）" in saved
        _assert_house_style(saved)
        # One audit event, and no draft left to confirm twice.
        (event,) = await rows(bot, t.events, t.events.c.action == "calendar_confirmed")
        assert event.actor_user_id == ADMIN_ID and event.case_id is None
        assert event.detail["moved"] == [
            {
                "case_id": case_id,
                "number": number,
                "addressee": "YB-IPC",
                "stage": "reply",
                "old": "2027-02-11",
                "new": "2027-02-14",
            }
        ]
        assert await bot.svc.load_draft(ADMIN_ID, "calendar") is None
        # The rest of the office is told which deadlines moved.
        await bot.flush_outbox()
        told = bot.last_text(colleague)
        assert "根据国务院办公厅通知确认2027年节假日安排" in told
        assert f"{number}：2027年2月11日（周四） → 2027年2月14日（周日）" in told
        # /case shows the new deadline.
        await bot.say(office, f"/case {number}")
        assert "2027年2月14日（周日）" in bot.last_text(office)
        # The confirmed preview's button does nothing any more.
        before = len(await rows(bot, t.events))
        await bot.press(office, data=_data(preview, "✅ 确认"), message=preview)
        assert bot.alerts(office)[-1] == "该按钮已失效。"
        assert len(await rows(bot, t.events)) == before
        fake = bot.fake

    # After a restart the stored year still counts, before anything else is asked.
    async with running_bot(committee, db_url, clock, fake=fake) as bot:
        assert bot.svc.calendar.is_working_day(date(2027, 2, 14))
        assert not bot.svc.calendar.is_working_day(date(2027, 2, 11))
        # /calendar shows next year as stored, and replaces it from a new notice.
        office = admin(bot)
        await bot.say(office, "/calendar")
        shown = bot.last_with_buttons(office)
        assert "2027年节假日安排\n由admin 1001于" in shown["text"]
        await bot.press(office, "用新通知替换")
        assert "国务院办公厅关于…年部分节假日安排的通知" in bot.last_text(office)
        autumn = NOTICE_2027.replace(
            "六、中秋节：9月15日（周三）放假1天，不调休。",
            "六、中秋节：9月15日（周三）至17日（周五）放假，共3天。",
        )
        await bot.say(office, autumn)
        assert "中秋节：2027年9月15日（周三）至2027年9月17日（周五），3天" in bot.last_text(office)
        await bot.press(office, "✅ 确认")
        (stored,) = await rows(bot, t.calendar_years)
        assert stored.source_sha256 == hashlib.sha256(autumn.encode()).hexdigest()
        assert not bot.svc.calendar.is_working_day(date(2027, 9, 17))
        replaced = (await rows(bot, t.events, t.events.c.action == "calendar_confirmed"))[-1]
        assert replaced.detail["replaced"] is True
        assert "没有未办结事项的期限因此调整。" in bot.last_text(office)
        # A matter raised now counts on it: acknowledge by 3 working days after 10 February.
        clock.set(datetime(2027, 2, 10, 10, 0, tzinfo=SHANGHAI))
        await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        newest = (await rows(bot, t.assignments))[-1]
        assert newest.due == date(2027, 2, 16)  # 14 (make-up Sunday), 15, 16
        # /calendar 2027 shows it as stored, offering to replace it.
        await bot.say(office, "/calendar 2027")
        shown = bot.last_with_buttons(office)
        assert "2027年节假日安排" in shown["text"]
        assert "由admin 1001于2026年12月24日（周四）根据国务院办公厅通知确认" in shown["text"]
        assert bot.labels(shown) == ["用新通知替换"]


async def test_a_year_shown_as_counted_now_and_a_notice_in_two_parts(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        # 2026 comes from the package's published schedule.
        await bot.say(office, "/calendar 2026")
        shown = bot.last_with_buttons(office)
        assert "来自内置节假日数据" in shown["text"]
        assert "\n2026年10月\n一  二  三" in shown["text"]
        assert "调休上班：2026年1月4日（周日）" in shown["text"]
        assert bot.labels(shown) == ["粘贴通知"]
        # Pasted in two messages, as Telegram splits a long one: the first is kept, even
        # across a restart.
        await bot.press(office, "粘贴通知")
        head, tail = NOTICE_2027.split("五、端午节")
        await bot.say(office, head)
        part = bot.last_text(office)
        assert "已收到通知第1部分。尚缺：端午节、中秋节、国庆节。" in part
        _assert_house_style(part)
        fake = bot.fake
    async with running_bot(committee, db_url, fake=fake) as bot:
        office = admin(bot)
        await bot.say(office, "五、端午节" + tail)
        preview = bot.last_with_buttons(office)
        assert "2027年节假日安排（根据通知读取）" in preview["text"]
        assert "中秋节：2027年9月15日（周三），1天" in preview["text"]
        # /cancel ends it: nothing stored, the preview's buttons do nothing.
        await bot.say(office, "/cancel")
        assert "已取消，节假日安排未作更改。" in bot.last_text(office)
        await bot.press(office, "✅ 确认", message=preview)
        assert bot.alerts(office)[-1] == "该按钮已失效。"
        assert await rows(bot, t.calendar_years) == []


async def test_someone_not_of_the_office_is_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        preview = bot.last_with_buttons(office)
        token = _data(preview, "✅ 确认")
        await bot.say(li, "/calendar")
        assert "仅府院联动办公室可进行此操作" in bot.last_text(li)
        # A department head's forged press of the office's Confirm stores nothing.
        await bot.press(li, data=token, message=preview, chat=office)
        await bot.say(li, NOTICE_2027)
        assert "2027年节假日安排" not in bot.last_text(li)
        assert await rows(bot, t.calendar_years) == []
        assert await bot.svc.load_draft(LI, "calendar") is None


async def test_a_malformed_notice_is_named_and_cancel_stores_nothing(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/calendar")
        wrong = NOTICE_2027.replace("放假调休，共8天", "放假调休，共9天")
        await bot.say(office, wrong)
        problem = bot.last_text(office)
        assert "通知写明共9天，但按日期计算为8天。" in problem
        assert "原文：「二、春节：2月5日（农历除夕、周五）至2月12日" in problem
        assert "请粘贴更正后的通知" in problem
        _assert_house_style(problem)
        wrong_day = NOTICE_2027.replace("2月20日（周六）上班", "2月22日（周一）上班")
        await bot.say(office, wrong_day)
        assert "2027年2月22日（周一）为调休上班日，但不是周六或周日。" in bot.last_text(office)
        assert await rows(bot, t.calendar_years) == []
        # The corrected notice is taken while the conversation still waits for it.
        await bot.say(office, NOTICE_2027)
        first = bot.last_with_buttons(office)
        # A second paste replaces the first preview: only its buttons act.
        await bot.say(office, NOTICE_2027)
        second = bot.last_with_buttons(office)
        await bot.press(office, "✅ 确认", message=first)
        assert bot.alerts(office)[-1] == "该按钮已失效。"
        assert await rows(bot, t.calendar_years) == []
        await bot.press(office, "✖ 取消", message=second)
        assert "已取消，节假日安排未作更改。" in bot.last_text(office)
        assert await rows(bot, t.calendar_years) == []
        assert await bot.svc.load_draft(ADMIN_ID, "calendar") is None
        assert bot.svc.calendar.source(date(2027, 6, 1)) == "estimated"
        await bot.press(office, data=_data(second, "✅ 确认"), message=second)
        assert bot.alerts(office)[-1] == "该按钮已失效。"
        assert await rows(bot, t.calendar_years) == []


async def test_a_notice_for_a_past_year_is_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICES[2025])
        assert "2025年已过去" in bot.last_text(office)
        assert await rows(bot, t.calendar_years) == []


async def test_a_notice_for_the_year_after_next_is_refused(
    committee: Committee, db_url: str
) -> None:
    """The State Council publishes only the next year's notice: a later year is a misread."""
    clock = ManualClock(datetime(2025, 11, 25, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        assert "该通知是2027年的，但目前只会发布下一年（2026年）的通知。" in bot.last_text(office)
        assert await rows(bot, t.calendar_years) == []


async def test_the_office_reads_it_in_english(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/lang")
        await bot.press(office, "English")
        since = len(bot.fake.messages_to(office))
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        preview = bot.last_with_buttons(office)
        text = preview["text"]
        assert "Spring Festival: Fri 5 Feb 2027 – Fri 12 Feb 2027, 8 days" in text
        assert "Make-up working days: Sun 14 Feb 2027, Sat 20 Feb 2027" in text
        assert "February 2027\nM   T   W   T   F   S   S\n 1   2   3   4   5*  6*  7*" in text
        assert bot.labels(preview) == ["✅ Confirm", "✖ Cancel"]
        await bot.press(office, "✅ Confirm")
        assert "The holidays of 2027 are saved" in bot.last_text(office)
        for message in bot.fake.messages_to(office)[since:]:
            assert english_slips(_prose(message)) == [], message["text"]


async def test_the_gap_alert_points_to_calendar(committee: Committee, db_url: str) -> None:
    """On 25 November 2026 the next 60 days reach into 2027, which only has estimates."""
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/help")
        assert "/calendar — 节假日安排：每年11月粘贴国务院办公厅的通知" in bot.last_text(office)
        await bot.tick(datetime(2026, 11, 25, 10, 5, tzinfo=SHANGHAI))
        await bot.flush_outbox()
        gap = bot.last_text(office)
        assert "2027年1月1日（周五）至2027年1月23日（周六）" in gap
        assert "请发送 /calendar 并粘贴通知全文" in gap
        _assert_house_style(gap)


def test_a_notice_s_days_in_the_previous_december_count_there() -> None:
    notice = parse_notice(NOTICES[2019])
    calendar = WorkingCalendar(CalendarOverrides(), library=False)
    assert calendar.is_working_day(date(2018, 12, 31))
    calendar.use_notice(schedule_of(notice))
    assert calendar.is_working_day(date(2018, 12, 29))  # a Saturday, a make-up day
    assert not calendar.is_working_day(date(2018, 12, 31))
    assert not calendar.is_working_day(date(2019, 1, 1))
    assert calendar.source(date(2019, 3, 1)) == "notice"
    assert calendar.source(date(2018, 3, 1)) == "none"


async def test_paused_working_days_still_count_when_deadlines_move(
    committee: Committee, db_url: str
) -> None:
    """Deadlines are counted again with the rules that counted them: a clock paused for two
    working days keeps them; a clock paused now keeps running nothing, its later due days
    are counted again all the same."""
    clock = ManualClock(datetime(2026, 12, 24, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        await _referral_acknowledged(bot)
        svc = bot.svc
        court = await svc.viewer(ZHAO, "赵法官", None)
        raiser = await svc.viewer(LI, "李明", None)
        resumed = await seed_case(bot, LI, "李明", "林地征收补偿争议", kind="referral")
        waiting = await seed_case(bot, LI, "李明", "滑雪场用地补偿争议", kind="referral")
        for case in (resumed, waiting):
            await svc.act(court, case.id, None, "acknowledge")
            await svc.act(court, case.id, None, "request_info", {"question": "请补充材料。"})
        clock.set(datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI))  # Friday 25 and Monday 28
        await svc.act(raiser, resumed.id, None, "provide_info", {"answer": "已补充。", "files": []})
        by_case = {a.case_id: a for a in await rows(bot, t.assignments)}
        assert by_case[resumed.id].paused_days == 2
        assert by_case[resumed.id].due == date(2027, 2, 15)  # 30 + 2 working days
        assert by_case[waiting.id].due is None
        assert by_case[waiting.id].dues["reply"] == "2027-02-11"

        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        await bot.press(office, "✅ 确认")
        by_case = {a.case_id: a for a in await rows(bot, t.assignments)}
        # 14 February (a make-up Sunday) is the 30th working day, the 16th the 32nd.
        assert by_case[resumed.id].due == date(2027, 2, 16)
        assert by_case[resumed.id].paused_days == 2
        assert by_case[waiting.id].due is None
        assert by_case[waiting.id].paused_since == date(2026, 12, 24)
        assert by_case[waiting.id].dues["reply"] == "2027-02-14"
        saved = bot.last_text(office)
        assert f"{resumed.number}：2027年2月15日（周一） → 2027年2月16日（周二）" in saved
        assert waiting.number not in saved
        assert "2件未办结事项的期限已调整" in saved


@pytest.mark.postgres
async def test_an_answered_deadline_is_not_moved_by_a_later_calendar(
    committee: Committee, db_url: str
) -> None:
    """2027's notice is confirmed late, on Wednesday 24 February 2027. A referral raised on
    Thursday 18 February had to be acknowledged by Tuesday 23 February (the calendar the
    bot counted on then: Saturday 20 February was not yet known as a make-up working day),
    and the court acknowledged it on the 23rd, on time. Counting that answered deadline
    again on the notice (due Monday 22nd) rewrites history: the court's acknowledgement
    turns late in the figures, and nobody is told (only the running deadline is listed)."""
    clock = ManualClock(datetime(2027, 2, 18, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.dues["ack"] == "2027-02-23"
        await bot.flush_outbox()
        clock.set(datetime(2027, 2, 23, 10, 0, tzinfo=SHANGHAI))
        await bot.press(zhao, "✅ 受理")
        clock.set(datetime(2027, 2, 24, 10, 0, tzinfo=SHANGHAI))

        office = admin(bot)
        await bot.say(office, "/calendar 2027")
        await bot.press(office, "粘贴通知")
        await bot.say(office, NOTICE_2027)
        await bot.press(office, "✅ 确认")
        assert (await rows(bot, t.calendar_years))[0].year == 2027

        (assignment,) = await rows(bot, t.assignments)
        # The acknowledgement's due day it was answered against stays what it was.
        assert assignment.dues["ack"] == "2027-02-23", assignment.dues
        await bot.say(office, "/stats")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        # acknowledged on its due day: on time
        assert table_of(text)["延边中院"][3] == "100%", text


@pytest.mark.postgres
async def test_the_court_s_notice_shows_the_deadline_the_calendar_moved(
    committee: Committee, db_url: str
) -> None:
    """A referral raised on Thursday 24 December 2026 and acknowledged: its notice in the
    court's chat says the outcome is due on Thursday 11 February 2027 (the package's
    estimate). The office confirms 2027's notice and the deadline moves to Sunday 14
    February — but only the office is told; the court's notice, which every action keeps up
    to date, still shows 11 February."""
    clock = ManualClock(datetime(2026, 12, 24, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
        await bot.flush_outbox()
        notice = bot.last_with_buttons(zhao)
        await bot.press(zhao, "✅ 受理", message=notice)
        await bot.flush_outbox()
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.due == date(2027, 2, 11)

        def court_notice() -> str:
            return str(bot.fake.message(zhao, notice["message_id"]).get("text", ""))

        assert "2027年2月11日（周四）" in court_notice()

        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        await bot.press(office, "✅ 确认")
        await bot.flush_outbox()
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.due == date(2027, 2, 14)
        assert "2027年2月14日（周日）" in court_notice(), court_notice()
        # An edit makes no sound: the court is told, once, in a message of its own.
        told = bot.shown_n(
            "The State Council's holiday notice for %(year)s, now confirmed, moved the "
            "deadline of %(n)s matter you answer for:",
            "The State Council's holiday notice for %(year)s, now confirmed, moved the "
            "deadlines of %(n)s matters you answer for:",
            1,
            year=2027,
        )
        news = [x for x in bot.texts(zhao) if told in x]
        assert len(news) == 1, bot.texts(zhao)
        assert "2027年2月11日（周四） → 2027年2月14日（周日）" in news[0], news[0]
        assert not any(told in x for x in bot.texts(LI) + bot.texts(office))
        queued = [r for r in await rows(bot, t.outbox) if r.kind == "deadline_moved"]
        assert [(r.chat_id, len(r.payload["items"])) for r in queued] == [(ZHAO, 1)]


@pytest.mark.postgres
async def test_two_years_confirmed_at_the_same_moment_both_count(
    committee: Committee, db_url: str
) -> None:
    """Two members of the office press Confirm at the same moment: one on 2027's notice,
    the other on 2026's (a correction of this year's). Each recount must see the other
    year as stored. The 2026 confirmation builds its calendar before it waits for the
    write lock, i.e. without 2027's notice, and writes the referral's reply deadline back
    to the estimate (11 February) while the calendar in memory counts on the notice (14)."""
    clock = ManualClock(datetime(2026, 12, 24, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        colleague = await member(bot, 1002, "王主任", "CBS-OFFICE", Role.OFFICE)
        await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
        await bot.flush_outbox()
        await bot.press(zhao, "✅ 受理")
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.due == date(2027, 2, 11)

        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        await bot.say(colleague, "/calendar 2026")
        await bot.press(colleague, "粘贴通知")
        await bot.say(colleague, NOTICES[2026])
        bot.fake.press(office, bot.last_with_buttons(office), "✅ 确认")
        bot.fake.press(colleague, bot.last_with_buttons(colleague), "✅ 确认")
        await bot.deliver_as_polling()
        assert {r.year for r in await rows(bot, t.calendar_years)} == {2026, 2027}
        assert not bot.svc.calendar.is_working_day(date(2027, 2, 11))
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.due == date(2027, 2, 14)


async def test_odd_years_after_calendar_get_the_usage(committee: Committee, db_url: str) -> None:
    """「/calendar ²」 (a superscript two, as a phone's symbol keyboard offers) passes
    ``str.isdigit`` but not ``int``: the command fails with the generic error instead of
    the usage."""
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        for odd in ("²", "①", "2027²"):
            await bot.say(office, f"/calendar {odd}")
            usage = bot.last_text(office)
            assert "/calendar 2027" in usage, usage


async def test_the_recount_runs_beside_the_event_loop(committee: Committee, db_url: str) -> None:
    """Counting every open deadline again takes a third of a second at 100,000 matters:
    it runs in a worker thread, so the bot goes on answering meanwhile."""
    clock = ManualClock(datetime(2026, 12, 24, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.dues["reply"] == "2027-02-11"  # the package's estimate
        counted_in: list[int] = []
        recount = bot.svc._recount

        def watched(rows: Any, calendar: WorkingCalendar) -> Any:
            counted_in.append(threading.get_ident())
            return recount(rows, calendar)

        bot.svc._recount = watched  # type: ignore[method-assign]
        office = admin(bot)
        await bot.say(office, "/calendar")
        await bot.say(office, NOTICE_2027)
        await bot.press(office, "✅ 确认")
        assert counted_in and threading.get_ident() not in counted_in, counted_in
        (assignment,) = await rows(bot, t.assignments)
        assert assignment.dues["reply"] == "2027-02-14"  # counted on the notice


def test_the_news_of_moved_deadlines_reads_well_and_stays_short(committee: Committee) -> None:
    """Whoever must act on many matters gets one message: the first twenty listed, the
    rest counted; in both languages, in house style."""
    from handlers.texts import Texts

    texts = Texts(committee, SHANGHAI)
    moved = [
        {"number": f"协调〔2026〕{i}号", "old": "2027-02-11", "new": "2027-02-14"}
        for i in range(1, 21)
    ]
    zh = texts.render("zh_CN", "deadline_moved", year=2027, total=21, moved=moved, rest=1)
    assert zh.startswith(
        "📅 2027年节假日安排已根据国务院办公厅通知确认，您负责的21件事项期限已调整："
    ), zh
    assert zh.count("2027年2月11日（周四） → 2027年2月14日（周日）") == 20
    assert zh.rstrip().endswith("……另有1件"), zh
    assert slips(zh) == [], slips(zh)
    en = texts.render("en", "deadline_moved", year=2027, total=1, moved=moved[:1], rest=0)
    assert "moved the deadline of 1 matter you answer for:" in en, en
    assert "more" not in en
    assert english_slips(en.replace(moved[0]["number"], "")) == [], en
