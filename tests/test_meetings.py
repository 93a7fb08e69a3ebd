"""Joint meetings (府院联席会议): the office schedules one through a conversation, the group gets
a post with answer buttons and an .ics file, organisations answer, and reminders go out on time
— once, late with a note after downtime, never after the start. Rescheduling and cancelling
reach everyone who was told.

Nothing sleeps: each test moves ``bot.clock`` and runs the tick the JobQueue would run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import select

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests.conftest import ADMIN_ID, SHANGHAI
from tests.fakes.telegram import FakeChat, FakeUser
from tests.flows import (
    GROUP,
    LI,
    STRANGER,
    SUN,
    WANG,
    ZHAO,
    admin,
    bind_group,
    member,
    on_button,
    rows,
    seed_case,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


JSON = dict[str, Any]
TITLE = "2026年第四季度府院联席会议"
PLACE = "管委会三楼第一会议室"
RSVP_LABELS = ["✅ 出席", "👤 委派代表参加", "✖ 不能出席"]
REMINDER = "联席会议提醒"
LATE_NOTE = "此提醒已延迟发送"
NOT_INVITED = "仅参会单位的成员可以答复。"


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=SHANGHAI)


async def cast(bot: Harness) -> dict[str, FakeUser]:
    """The office admin, a judge of the Yanbian court, two department heads, a clerk of the
    Fusong court (never invited below) and a stranger; plus the bound committee group."""
    return {
        "admin": admin(bot),
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
        "sun": await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF),
        "stranger": bot.user(STRANGER, "路人"),
    }


INVITED = ("延边州中级人民法院", "长白山管委会自然资源局", "长白山管委会生态环境局")


async def schedule(
    bot: Harness,
    office: FakeUser,
    *,
    day: str = "后天",
    time: str = "15:00",
    orgs: tuple[str, ...] = INVITED,
    matters: tuple[str, ...] = (),
    items: str = "",
) -> None:
    """The whole /meeting conversation, button by button, up to the Schedule press."""
    await bot.say(office, "/meeting")
    assert "1/6" in bot.last_text(office) and "会议名称" in bot.last_text(office)
    await bot.say(office, TITLE)
    assert "2/6" in bot.last_text(office)
    await bot.press(office, day)
    assert "3/6" in bot.last_text(office)
    await bot.press(office, time)
    assert "4/6" in bot.last_text(office)
    await bot.say(office, PLACE)
    assert "5/6" in bot.last_text(office)
    for name in orgs:
        await bot.press(office, on_button(bot, name))
    await bot.press(office, "完成")
    assert "6/6" in bot.last_text(office)
    for number in matters:
        await bot.press(office, number)
    if items:
        await bot.say(office, items)
    await bot.press(office, "完成")
    summary = bot.last_with_buttons(office)
    assert bot.labels(summary) == ["📅 确认安排", "✏ 修改", "✖ 取消"]
    await bot.press(office, "确认安排")


def posts(bot: Harness, chat: FakeChat | FakeUser, marker: str) -> list[JSON]:
    return [m for m in bot.fake.messages_to(chat) if marker in m.get("text", "")]


def calendars(bot: Harness, chat_id: int) -> list[Calendar]:
    """The .ics files sent to a chat, parsed."""
    found = []
    for call in bot.fake.calls_of("sendDocument"):
        if int(call.params["chat_id"]) == chat_id and call.ok:
            document = call.params["document"]
            assert document.file_name.endswith(".ics")
            found.append(Calendar.from_ical(document.content))
    return found


def event_of(cal: Calendar) -> Any:
    (event,) = cal.walk("VEVENT")
    return event


async def reminder_keys(bot: Harness) -> list[str]:
    outbox = await rows(bot, t.outbox, t.outbox.c.kind == "meeting_reminder")
    return sorted(r.key for r in outbox)


# ---------------------------------------------------------------------------- scheduling


async def test_schedule_post_rsvp_and_reminders(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        office, zhao, li, wang = people["admin"], people["zhao"], people["li"], people["wang"]
        group = await bind_group(bot)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        await bot.say(wang, "/lang")
        await bot.press(wang, "English")

        await schedule(
            bot,
            office,
            matters=(case.number,),
            items="通报第四季度行政争议化解情况\n研究下一年度联动工作要点",
        )

        receipt = bot.last_text(office)
        assert "联席会议已安排" in receipt and "已发布到委员会工作群" in receipt
        assert "将在会前24小时、1小时发送提醒" in receipt
        (post,) = posts(bot, group, TITLE)
        text = post["text"]
        assert "2026年11月27日（周五）15:00" in text and PLACE in text
        assert f"1. {case.number} 滑雪场扩建项目法律风险研判" in text
        assert "2. 通报第四季度行政争议化解情况" in text and "3. 研究下一年度联动工作要点" in text
        for name in INVITED:
            assert f"… {name} · 尚未答复" in text
        assert bot.labels(post) == RSVP_LABELS
        (ics,) = calendars(bot, GROUP)
        event = event_of(ics)
        assert ics["METHOD"] == "PUBLISH"
        assert event.decoded("DTSTART") == at("2026-11-27", 15)
        assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
        assert str(event["UID"]) == "meeting-1@fuyuan-bot" and event.decoded("SEQUENCE") == 1
        assert (
            str(event["LOCATION"]) == PLACE and "研究下一年度联动工作要点" in event["DESCRIPTION"]
        )

        (meeting,) = await rows(bot, t.meetings)
        assert (meeting.title, meeting.place, meeting.status, meeting.version) == (
            TITLE,
            PLACE,
            "scheduled",
            1,
        )
        assert meeting.starts_at == at("2026-11-27", 15)
        invited = await rows(bot, t.meeting_orgs)
        assert sorted(r.org_code for r in invited) == ["CBS-ENV", "CBS-NR", "YB-IPC"]
        assert all(r.rsvp is None for r in invited)
        agenda = await rows(bot, t.meeting_agenda)
        assert [(a.position, a.case_id) for a in agenda] == [(1, case.id), (2, None), (3, None)]
        (scheduled,) = await rows(bot, t.events, t.events.c.action == "meeting_scheduled")
        assert scheduled.case_id is None and scheduled.actor_user_id == ADMIN_ID
        assert scheduled.detail["meeting_id"] == meeting.id
        assert await rows(bot, t.drafts) == []  # the form's draft went with the scheduling

        # Two organisations answer; the post shows it. A repeat press changes nothing.
        await bot.press(zhao, "✅ 出席", message=post)
        assert bot.alerts(zhao)[-1] == "已记录：延边州中级人民法院，出席。"
        await bot.press(li, "👤 委派代表参加", message=post)
        await bot.press(li, "✅ 出席", message=post)  # the bureau changes its answer
        await bot.press(zhao, "✅ 出席", message=post)
        assert bot.alerts(zhao)[-1] == "已记录过：延边州中级人民法院，出席。"
        shown = bot.fake.message(group, post["message_id"])["text"]
        assert "✅ 延边州中级人民法院 · 出席" in shown
        assert "✅ 长白山管委会自然资源局 · 出席" in shown
        assert "… 长白山管委会生态环境局 · 尚未答复" in shown
        # Neither a court that was not invited nor a stranger can answer.
        for outsider in (people["sun"], people["stranger"]):
            await bot.press(outsider, "✖ 不能出席", message=post)
            assert bot.alerts(outsider)[-1] == NOT_INVITED
        answers = {r.org_code: (r.rsvp, r.rsvp_by) for r in await rows(bot, t.meeting_orgs)}
        assert answers == {
            "YB-IPC": ("attend", ZHAO),
            "CBS-NR": ("attend", LI),
            "CBS-ENV": (None, None),
        }
        rsvps = await rows(bot, t.events, t.events.c.action == "meeting_rsvp")
        assert [(e.actor_user_id, e.detail["answer"], e.detail["previous"]) for e in rsvps] == [
            (ZHAO, "attend", None),
            (LI, "deputy", None),
            (LI, "attend", "deputy"),
        ]

        # Reminders: 24 h before, to the group and to members of organisations without an
        # answer; once; then 1 h before.
        await bot.tick(at("2026-11-26", 14, 59))
        assert posts(bot, group, REMINDER) == [] and await reminder_keys(bot) == []
        await bot.tick(at("2026-11-26", 15, 0))
        (first,) = posts(bot, group, REMINDER)
        assert TITLE in first["text"] and LATE_NOTE not in first["text"]
        assert bot.labels(first) == RSVP_LABELS
        (private,) = posts(bot, wang, "Reminder: joint meeting")
        assert "Ecology and Environment Bureau has not answered yet" in private["text"]
        assert "late" not in private["text"]
        assert posts(bot, zhao, REMINDER) == [] and posts(bot, li, REMINDER) == []
        assert await reminder_keys(bot) == [
            f"meeting:1:v1:remind:1440:{GROUP}",
            f"meeting:1:v1:remind:1440:{WANG}",
        ]
        await bot.tick(at("2026-11-26", 15, 1))
        await bot.tick(at("2026-11-27", 13, 59))
        assert len(posts(bot, group, REMINDER)) == 1
        assert len(posts(bot, wang, "Reminder: joint meeting")) == 1

        await bot.tick(at("2026-11-27", 14, 0))
        assert len(posts(bot, group, REMINDER)) == 2
        assert len(posts(bot, wang, "Reminder: joint meeting")) == 2
        assert {f"meeting:1:v1:remind:60:{GROUP}", f"meeting:1:v1:remind:60:{WANG}"} <= set(
            await reminder_keys(bot)
        )

        # The meeting started: no more reminders, no more answers.
        await bot.tick(at("2026-11-27", 15, 0))
        assert len(await reminder_keys(bot)) == 4
        await bot.press(wang, "Attend", message=private)
        assert bot.alerts(wang)[-1] == "This meeting has already started."


async def test_reminder_after_downtime_is_sent_once_late(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        await schedule(bot, people["admin"])
        fake, clock = bot.fake, bot.clock
        # The bot is down from before 15:00 the day before until 18:00: the 24 h reminder
        # goes out when it is back, once, with a note that it is late.
        await bot.tick(at("2026-11-26", 18, 0))
        (late,) = posts(bot, group, REMINDER)
        assert "此提醒已延迟发送，原定发送时间为2026年11月26日（周四）15:00。" in late["text"]
        (outbox,) = await rows(bot, t.outbox, t.outbox.c.chat_id == GROUP,
                               t.outbox.c.kind == "meeting_reminder")  # fmt: skip
        assert outbox.payload["late"] is True and outbox.status == "sent"
        assert len(posts(bot, people["wang"], REMINDER)) == 1

    # A restart after the reminder was sent does not send it again.
    async with running_bot(committee, db_url, clock, fake=fake) as again:
        await again.tick(at("2026-11-26", 18, 1))
        assert len(posts(again, group, REMINDER)) == 1
        assert len(posts(again, people["wang"], REMINDER)) == 1


async def test_only_the_nearest_overdue_reminder_is_sent(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        await schedule(bot, people["admin"])
        # Down for a day: both the 24 h and the 1 h moments passed; one reminder, not two.
        await bot.tick(at("2026-11-27", 14, 30))
        (late,) = posts(bot, group, REMINDER)
        assert "原定发送时间为2026年11月27日（周五）14:00" in late["text"]
        keys = await reminder_keys(bot)
        assert f"meeting:1:v1:remind:60:{GROUP}" in keys
        assert not any(":remind:1440:" in key for key in keys)


async def test_nothing_is_sent_once_the_meeting_started(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        await schedule(bot, people["admin"], day="明天", time="16:00")
        # Down through both reminder moments and past the start.
        await bot.tick(at("2026-11-26", 16, 1))
        assert posts(bot, group, REMINDER) == []
        assert await reminder_keys(bot) == []


# ---------------------------------------------------------------------------- changes


async def test_reschedule_tells_everyone_and_moves_the_reminders(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        office, zhao, li, wang = people["admin"], people["zhao"], people["li"], people["wang"]
        group = await bind_group(bot)
        await schedule(bot, office, orgs=INVITED[::2])  # the court and the Ecology Bureau
        await bot.tick(at("2026-11-26", 15, 0))  # 24 h reminder: both told privately
        assert len(posts(bot, zhao, REMINDER)) == 1 and len(posts(bot, wang, REMINDER)) == 1
        (post,) = posts(bot, group, "请参会单位")
        await bot.press(zhao, "✅ 出席", message=post)

        await bot.say(office, "/meetings")
        listing = bot.last_with_buttons(office)
        assert TITLE in listing["text"] and "2026年11月27日（周五）15:00" in listing["text"]
        assert bot.labels(listing) == ["🕑 改期1", "✖ 取消1"]
        await bot.press(office, "改期1")
        assert "改期：" in bot.last_text(office)
        await bot.say(office, "2026-11-28")
        await bot.say(office, "16点半")
        confirm = bot.last_with_buttons(office)
        assert (
            "2026年11月28日（周六）16:30" in confirm["text"]
            and "2026年11月27日（周五）15:00" in confirm["text"]
        )
        await bot.press(office, "确认新时间")
        assert "已改期至2026年11月28日（周六）16:30" in bot.last_text(office)

        (notice,) = posts(bot, group, "联席会议改期")
        assert (
            "2026年11月28日（周六）16:30" in notice["text"]
            and "2026年11月27日（周五）15:00" in notice["text"]
        )
        first, second = calendars(bot, GROUP)
        moved = event_of(second)
        assert str(moved["UID"]) == str(event_of(first)["UID"])
        assert moved.decoded("SEQUENCE") == 2
        assert moved.decoded("DTSTART") == at("2026-11-28", 16, 30)
        # Everyone told privately hears of it too, with the new file; others do not.
        for told in (zhao, wang):
            assert len(posts(bot, told, "联席会议改期")) == 1
            assert len(calendars(bot, told.id)) == 1
        assert posts(bot, li, "联席会议改期") == []
        (meeting,) = await rows(bot, t.meetings)
        assert meeting.version == 2 and meeting.starts_at == at("2026-11-28", 16, 30)
        (moved_event,) = await rows(bot, t.events, t.events.c.action == "meeting_rescheduled")
        assert moved_event.detail["meeting_id"] == meeting.id and moved_event.case_id is None

        # The old 1 h moment and the old start pass silently; the new 24 h moment reminds
        # the group and those still without an answer.
        await bot.tick(at("2026-11-27", 14, 0))
        await bot.tick(at("2026-11-27", 15, 0))
        assert len(posts(bot, group, REMINDER)) == 1
        await bot.tick(at("2026-11-27", 16, 30))
        assert len(posts(bot, group, REMINDER)) == 2
        assert len(posts(bot, wang, REMINDER)) == 2 and len(posts(bot, zhao, REMINDER)) == 1
        keys = await reminder_keys(bot)
        assert f"meeting:1:v2:remind:1440:{GROUP}" in keys
        assert not any(key.startswith("meeting:1:v1:remind:60") for key in keys)


async def test_cancel_tells_everyone_and_stops_reminders(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        office, wang = people["admin"], people["wang"]
        group = await bind_group(bot)
        await schedule(bot, office)
        await bot.tick(at("2026-11-26", 15, 0))
        (post,) = posts(bot, group, "请参会单位")

        await bot.say(office, "/meetings")
        await bot.press(office, "取消1")
        assert "确定取消" in bot.last_text(office)
        await bot.press(office, "确认取消会议")
        assert "已取消" in bot.last_text(office)
        (notice,) = posts(bot, group, "联席会议已取消")
        assert TITLE in notice["text"]
        cancelled = calendars(bot, GROUP)[-1]
        assert cancelled["METHOD"] == "CANCEL"
        assert event_of(cancelled)["STATUS"] == "CANCELLED"
        assert event_of(cancelled).decoded("SEQUENCE") == 2
        assert len(posts(bot, wang, "联席会议已取消")) == 1
        (meeting,) = await rows(bot, t.meetings)
        assert (meeting.status, meeting.version) == ("cancelled", 2)
        assert len(await rows(bot, t.events, t.events.c.action == "meeting_cancelled")) == 1

        await bot.tick(at("2026-11-27", 14, 0))
        assert len(posts(bot, group, REMINDER)) == 1
        await bot.press(people["zhao"], "✅ 出席", message=post)
        assert bot.alerts(people["zhao"])[-1] == "该会议已取消。"
        await bot.say(office, "/meetings")
        assert "暂无已安排的联席会议" in bot.last_text(office)


# ---------------------------------------------------------------------------- the conversation


async def test_the_conversation_checks_each_answer(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/meeting")
        await bot.say(office, "   ")
        assert "为空" in bot.last_text(office)
        await bot.say(office, "x" * 201)
        assert "200" in bot.last_text(office)
        await bot.say(office, TITLE)
        await bot.say(office, "2026-11-25")  # today, typed
        time_prompt = bot.last_with_buttons(office)
        # It is 10:00: only the later quick times are offered.
        assert bot.labels(time_prompt)[:3] == ["14:00", "15:00", "16:00"]
        await bot.say(office, "25:00")
        assert bot.last_text(office) == "⚠ 无法识别该时间。请使用按钮，或按 09:30 的格式输入。"
        await bot.say(office, "明天下午")
        assert "无法识别该时间" in bot.last_text(office)
        await bot.say(office, "09:00")
        assert bot.last_text(office) == "⚠ 该时间已过，请选择更晚的时间。"
        await bot.say(office, "11点半")
        assert "4/6" in bot.last_text(office)
        await bot.say(office, PLACE)
        await bot.press(office, "完成")  # nothing chosen yet
        assert bot.alerts(office)[-1] == "请至少选择一个单位。"
        assert "5/6" in bot.last_text(office)
        await bot.press(office, "全部法院")
        assert "已选4个单位" in bot.last_text(office)
        await bot.press(office, "抚松法院")
        assert "已选3个单位" in bot.last_text(office)
        await bot.press(office, "完成")
        await bot.press(office, "完成")  # no agenda items
        summary = bot.last_text(office)
        assert "2026年11月25日（周三）11:30" in summary and "暂无议程" in summary
        assert "抚松县人民法院" not in summary and "安图县人民法院" in summary

        # Edit the title from the summary.
        await bot.press(office, "修改")
        await bot.press(office, "会议名称")
        await bot.say(office, "府院联席会议（临时）")
        assert "府院联席会议（临时）" in bot.last_text(office)

        # The time passes while the summary is open: Schedule asks for a new time.
        bot.clock.set(at("2026-11-25", 11, 45))
        await bot.press(office, "确认安排")
        assert "⚠ 该时间已过，请选择更晚的时间。" in bot.texts(office)
        assert "开始时间" in bot.last_text(office)
        assert await rows(bot, t.meetings) == []
        await bot.say(office, "16:00")
        await bot.press(office, "确认安排")
        (meeting,) = await rows(bot, t.meetings)
        assert meeting.title == "府院联席会议（临时）"
        assert meeting.starts_at == at("2026-11-25", 16)
        # No group bound: the office is told the post could not be made.
        assert "尚未绑定委员会工作群" in bot.last_text(office)


async def test_cancel_and_restart_mid_conversation(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/meeting")
        await bot.say(office, TITLE)
        await bot.say(office, "/cancel")
        assert bot.last_text(office) == "已取消，未安排或变更任何会议。"
        assert await rows(bot, t.drafts) == []

        await bot.say(office, "/meeting")
        await bot.say(office, TITLE)
        (draft,) = await rows(bot, t.drafts)
        assert (draft.flow, draft.state) == ("form", "AWAITING_DATE")
        assert (draft.data["form"], draft.data["field"]) == ("meeting", "starts_at")
        fake, clock = bot.fake, bot.clock

    async with running_bot(committee, db_url, clock, fake=fake) as again:
        # The date question from before the restart still works: the calendar, a day.
        await again.press(office, "选择日期")
        await again.press(office, "▶")
        await again.press(office, "3")
        assert "3/6" in again.last_text(office) and "2026年12月3日（周四）" in again.last_text(
            office
        )
        (draft,) = await rows(again, t.drafts)
        assert (draft.state, draft.data["part"]) == ("AWAITING_TIME", "2026-12-03")


async def test_only_the_office_schedules(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/meeting")
        assert bot.last_text(li) == "⚠ 仅府院联动办公室可进行此操作。"
        stranger = bot.user(STRANGER, "路人")
        await bot.say(stranger, "/meeting")
        assert bot.last_text(stranger) == "⚠ 仅府院联动办公室可进行此操作。"
        assert await rows(bot, t.drafts) == []
        async with bot.svc.db.read() as conn:
            assert (await conn.execute(select(t.meetings))).all() == []
        # /meetings is for members; it lists without the office's buttons.
        await bot.say(li, "/meetings")
        assert "暂无已安排的联席会议" in bot.last_text(li)
        assert "reply_markup" not in bot.fake.last_message_to(li)


async def test_a_meeting_set_up_inside_a_reminder_window_gets_no_instant_reminder(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        # Wednesday 10:00, for today 15:00: the 24 h reminder's moment is before the meeting
        # existed, so the group's post is all there is until the 1 h reminder at 14:00.
        await schedule(bot, people["admin"], day="今天")
        await bot.tick(at("2026-11-25", 10, 1))
        assert posts(bot, group, REMINDER) == []
        assert await reminder_keys(bot) == []
        await bot.tick(at("2026-11-25", 14, 0))
        (reminder,) = posts(bot, group, REMINDER)
        assert "延迟" not in reminder["text"]


async def test_the_reminders_moments_are_told_for_a_clock_moved_far_ahead(
    committee: Committee, db_url: str
) -> None:
    """Whoever moves the clock ahead at once (the sandbox) learns when the meeting's
    reminders fall due on the way, to run the tick at each."""
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        await bind_group(bot)
        await schedule(bot, people["admin"])
        moments = await bot.svc.reminder_moments(at("2026-11-28"))
        assert moments == [at("2026-11-26", 15, 0), at("2026-11-27", 14, 0)]
        assert await bot.svc.reminder_moments(at("2026-11-26", 14, 59)) == []
        bot.clock.set(at("2026-11-26", 15, 0))
        assert await bot.svc.reminder_moments(at("2026-11-28")) == [at("2026-11-27", 14, 0)]


async def test_every_calendar_file_carries_the_time_zone_built_once(
    committee: Committee, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each .ics names its zone (VTIMEZONE), which icalendar derives from the zone's rules in
    tens of milliseconds: it is built once and reused for later files."""
    from icalendar import Timezone

    from handlers import meeting_notices

    built: list[str] = []
    from_tzid = Timezone.from_tzid

    def counted(tzid: str, *args: Any, **kwargs: Any) -> Any:
        built.append(tzid)
        return from_tzid(tzid, *args, **kwargs)

    monkeypatch.setattr(Timezone, "from_tzid", counted)
    meeting_notices._vtimezone.cache_clear()
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        office = people["admin"]
        group = await bind_group(bot)
        await schedule(bot, office, orgs=INVITED[::2])
        await bot.say(office, "/meetings")
        await bot.press(office, "改期1")
        await bot.say(office, "2026-11-28")
        await bot.say(office, "16点半")
        await bot.press(office, "确认新时间")
        files = calendars(bot, GROUP)
        assert len(files) == 2 and posts(bot, group, "2026年11月28日（周六）16:30")
        for ics in files:
            (zone,) = ics.walk("VTIMEZONE")
            assert str(zone["TZID"]) == "Asia/Shanghai"
            assert event_of(ics)["DTSTART"].params["TZID"] == "Asia/Shanghai"
        assert [event_of(ics).decoded("SEQUENCE") for ics in files] == [1, 2]
    assert built == ["Asia/Shanghai"]


async def test_the_list_shows_each_meetings_own_answers_and_agenda(
    committee: Committee, db_url: str
) -> None:
    """Several meetings listed at once are read together: each shows its own
    organisations and answers, as the database holds them."""
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        office, zhao = people["admin"], people["zhao"]
        group = await bind_group(bot)
        await schedule(bot, office, orgs=INVITED[:1])
        await schedule(bot, office, day="明天", time="09:00", orgs=INVITED[1:])
        await bot.tick(at("2026-11-25", 10, 1))
        later = next(p for p in posts(bot, group, "请参会单位") if "15:00" in p["text"])
        await bot.press(zhao, "✅ 出席", message=later)

        await bot.say(office, "/meetings")
        listing = bot.last_text(office)
        sooner, after = listing.split("\n\n")[1:3]
        assert "2026年11月26日（周四）09:00" in sooner and "2026年11月27日（周五）15:00" in after
        assert "… 长白山管委会自然资源局 · 尚未答复" in sooner
        assert "… 长白山管委会生态环境局 · 尚未答复" in sooner
        assert "延边州中级人民法院" not in sooner
        assert "✅ 延边州中级人民法院 · 出席" in after and "管委会" not in after.split("\n", 3)[3]
        invited = await rows(bot, t.meeting_orgs)
        by_meeting = {
            m.id: sorted((r.org_code, r.rsvp) for r in invited if r.meeting_id == m.id)
            for m in await rows(bot, t.meetings)
        }
        assert by_meeting == {
            1: [("YB-IPC", "attend")],
            2: [("CBS-ENV", None), ("CBS-NR", None)],
        }
