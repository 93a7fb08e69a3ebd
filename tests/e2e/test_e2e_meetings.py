"""A joint meeting over HTTP: bot.py as a real process, real time, the fake Bot API server.

The office schedules a meeting about 70 minutes ahead; the group gets the post and the .ics;
two organisations answer. Reminders are configured 1 h and 1 min before. The office then moves
the meeting to about 50 minutes ahead; the bot stops, the move is dated back a day (as if the
bot had been down since), and on restart its first tick (1 s after start) sends the 1 h
reminder late: to the group, and privately to the invited member whose organisation has not
answered. Nothing sleeps: every wait is on the
fake's condition.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tests.e2e.conftest import ADMIN_ID, World, on_button
from tests.fakes.telegram import FakeChat, FakeUser

GROUP = -1001234567890
SHANGHAI = ZoneInfo("Asia/Shanghai")
TITLE = "府院联席会议（临时）"
REMINDER = "联席会议提醒"


@pytest.fixture
def committee_tweak() -> Callable[[str], str]:
    """Reminders 1 h and 1 min before the start, in the committee file's [schedule] table."""

    def tweak(text: str) -> str:
        setting = 'meeting_reminders = ["1h", "1m"]'
        text, found = re.subn(r"(?m)^meeting_reminders\s*=.*$", setting, text)
        return text if found else f"{text}\n[schedule]\n{setting}\n"

    return tweak


def db_rows(world: World, sql: str) -> list[tuple[object, ...]]:
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def texts_with(world: World, chat: FakeChat | FakeUser, marker: str) -> list[str]:
    return [text for text in world.fake.texts_to(chat) if marker in text]


def ics_sent(world: World, chat_id: int) -> list[Calendar]:
    return [
        Calendar.from_ical(call.params["document"].content)
        for call in world.fake.calls_of("sendDocument")
        if call.ok and int(call.params["chat_id"]) == chat_id
    ]


def minutes_ahead(minutes: int) -> tuple[str, str, datetime]:
    """The local date and HH:MM a person would type for a start about ``minutes`` ahead."""
    start = (datetime.now(SHANGHAI) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    return start.date().isoformat(), start.strftime("%H:%M"), start


def test_meeting_post_rsvp_and_late_reminder_over_http(world: World) -> None:
    fake = world.fake
    office = fake.user(ADMIN_ID, "办公室管理员")
    group = fake.group(GROUP, "长白山府院联动群", add_bot=True)
    assert "委员会工作群" in world.say(office, "/bindgroup", chat=group)
    zhao = fake.user(3001, "赵法官")
    li = fake.user(2001, "李明")
    wang = fake.user(2002, "王强")
    world.join(zhao, "延边州中级人民法院", "法院工作人员")
    world.join(li, "长白山管委会自然资源局", "部门负责人")
    world.join(wang, "长白山管委会生态环境局", "部门负责人")

    day, hhmm, start = minutes_ahead(70)
    world.say(office, "/meeting")
    world.say(office, TITLE)
    world.say(office, day)
    world.say(office, hhmm)
    world.say(office, "https://meeting.example.cn/j/123456")
    for name in ("延边州中级人民法院", "长白山管委会自然资源局", "长白山管委会生态环境局"):
        world.press(office, on_button(name), wait="edit")
    world.press(office, "完成", wait="edit")
    world.press(office, "完成", wait="edit")
    world.press(office, "确认安排", wait="edit")
    assert "联席会议已安排" in world.last_text(office)

    # The post with its answer buttons, then the calendar file.
    world.wait(lambda: bool(texts_with(world, group, TITLE)) and len(ics_sent(world, GROUP)) == 1)
    (post,) = [m for m in fake.messages_to(group) if TITLE in m.get("text", "")]
    assert [label for row in fake.buttons(post) for label, _ in row] == [
        "✅ 出席",
        "👤 委派代表参加",
        "✖ 不能出席",
    ]
    (ics,) = ics_sent(world, GROUP)
    (event,) = ics.walk("VEVENT")
    assert event.decoded("DTSTART") == start and event.decoded("SEQUENCE") == 1
    assert str(event["URL"]) == "https://meeting.example.cn/j/123456"

    assert (
        world.press(zhao, "✅ 出席", message=post, wait="edit")
        == "已记录：延边州中级人民法院，出席。"
    )
    world.press(li, "👤 委派代表参加", message=post, wait="edit")
    shown = fake.message(group, post["message_id"])["text"]
    assert "✅ 延边州中级人民法院 · 出席" in shown
    assert "👤 长白山管委会自然资源局 · 委派代表参加" in shown
    assert "… 长白山管委会生态环境局 · 尚未答复" in shown

    # Moved to ~50 minutes ahead: its 1 h reminder moment has passed.
    day, hhmm, start = minutes_ahead(50)
    world.say(office, "/meetings")
    world.press(office, "改期1")
    world.say(office, day)
    world.say(office, hhmm)
    world.press(office, "确认新时间", wait="edit")
    world.wait(lambda: len(texts_with(world, group, "联席会议改期")) == 1)
    world.wait(lambda: len(ics_sent(world, GROUP)) == 2)
    (moved,) = ics_sent(world, GROUP)[1].walk("VEVENT")
    assert moved.decoded("DTSTART") == start and moved.decoded("SEQUENCE") == 2
    assert str(moved["UID"]) == str(event["UID"])

    # A restart: the first tick comes a second after start and sends the reminder (unless a
    # tick before the stop already did); either way once, marked late.
    assert world.bot.stop() == 0
    # While the bot is down, date the move back a day: the new time's 1 h reminder then fell
    # due during the downtime (no reminder is due for a moment before its version existed).
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("update meetings set updated_at = datetime(updated_at, '-1 day')")
    world.bot.start()
    world.wait(lambda: bool(texts_with(world, wang, REMINDER)), timeout=30)
    world.wait(lambda: bool(texts_with(world, group, REMINDER)))
    (to_group,) = texts_with(world, group, REMINDER)
    (to_wang,) = texts_with(world, wang, REMINDER)
    assert "此提醒已延迟发送" in to_group and TITLE in to_group
    assert "长白山管委会生态环境局尚未答复" in to_wang and "此提醒已延迟发送" in to_wang
    assert texts_with(world, zhao, REMINDER) == [] and texts_with(world, li, REMINDER) == []

    reminders = db_rows(
        world, "select key, chat_id, payload from outbox where kind = 'meeting_reminder'"
    )
    assert sorted((key, chat) for key, chat, _ in reminders) == [
        (f"meeting:1:v2:remind:60:{GROUP}", GROUP),
        ("meeting:1:v2:remind:60:2002", 2002),
    ]
    assert all(json.loads(str(payload))["late"] is True for _, _, payload in reminders)
    assert db_rows(world, "select org_code, rsvp from meeting_orgs order by org_code") == [
        ("CBS-ENV", None),
        ("CBS-NR", "deputy"),
        ("YB-IPC", "attend"),
    ]
    assert db_rows(world, "select status, version from meetings") == [("scheduled", 2)]
    actions = db_rows(world, "select action from events where action like 'meeting%' order by id")
    assert [a for (a,) in actions] == [
        "meeting_scheduled",
        "meeting_rsvp",
        "meeting_rsvp",
        "meeting_rescheduled",
    ]
