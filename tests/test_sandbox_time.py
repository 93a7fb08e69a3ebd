"""The sandbox's time controls as a bot running all along would have lived the time: a jump
over a meeting's or a hearing's reminder stops at its moment and sends it then, and a jump
to an hour before the next meeting. Played through the page's HTTP API as in
``tests/test_sandbox.py``; what the columns show and what the outbox holds are checked."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sandbox.world import Sandbox
from tests import test_sandbox
from tests.test_sandbox import Page, raise_hearing, rows

sandbox = test_sandbox.sandbox

Box = tuple[Sandbox, Page, int]
JSON = dict[str, Any]
# The bot sends in the tick run at the moment; the clock keeps running meanwhile.
ON_TIME = timedelta(minutes=1)


def now_of(page: Page) -> datetime:
    return datetime.fromisoformat(page.state["clock"]["now"])


def sent_at(message: JSON, tz: Any) -> datetime:
    return datetime.fromtimestamp(message["date"], tz)


def outbox(box: Sandbox, like: str) -> list[tuple[str, JSON, str]]:
    found = rows(
        box, f"select key, payload, status from outbox where key like '{like}' order by id"
    )
    return [(key, json.loads(payload), status) for key, payload, status in found]


async def jump(page: Page, action: str, workdays: int | None = None) -> datetime:
    body: JSON = {"action": action}
    if workdays is not None:
        body["workdays"] = workdays
    answer = await page.post("/api/time", body)
    await page.until(lambda s: s["clock"]["now"] >= answer["now"])
    return datetime.fromisoformat(answer["now"])


async def test_a_jump_over_a_hearing_s_reminders_sends_each_on_its_day(sandbox: Box) -> None:
    """From Monday 09:00, a hearing ten working days ahead; ten working days on in one jump
    lands at the hearing itself. The agency still got both reminders, three days and one
    day before, each at its moment (one leap would have skipped them both)."""
    box, page, _ = sandbox
    await jump(page, "monday-9")
    await raise_hearing(page)
    hearing = await jump(page, "workdays", 10)
    assert hearing.strftime("%H:%M") == "09:00"

    await page.until(lambda s: len(reminders(page)) >= 2)
    shown = reminders(page)
    assert len(shown) == 2, [m["html"] for m in shown]
    for message, days in zip(shown, (3, 1), strict=True):
        due = hearing - timedelta(days=days)
        assert due <= sent_at(message, box.tz) < due + ON_TIME, (days, message["date"])
    queued = outbox(box, "case:%:remind:hearing:%")
    assert [(payload["days"], status) for _, payload, status in queued] == [
        (3, "sent"),
        (1, "sent"),
    ]


def reminders(page: Page) -> list[JSON]:
    return [
        m
        for m in page.messages("agency")
        if m["bot"] and "开庭时间为" in m["html"] and "按时出庭应诉" in m["html"]
    ]


async def schedule_meeting(page: Page, day: datetime) -> None:
    """The office schedules a joint meeting on ``day`` at 14:00, inviting 住建局."""
    await page.say("office", "/meeting")
    await page.say("office", "府院联席会议")
    await page.say("office", f"{day.month}月{day.day}日")
    await page.press("office", "14:00")
    await page.say("office", "管委会三楼第一会议室")
    await page.press("office", "☐ 住建局")
    await page.press("office", "完成")
    await page.press("office", "完成")
    await page.press("office", "确认安排")
    await page.until(lambda s: any("府院联席会议" in t for t in page.texts("group")))


def meeting_reminders(page: Page) -> list[JSON]:
    return [m for m in page.messages("group") if m["bot"] and "联席会议提醒" in m["html"]]


async def test_a_jump_to_an_hour_before_the_meeting_sends_the_day_before_s_reminder_on_time(
    sandbox: Box,
) -> None:
    """A meeting on Wednesday at 14:00, seen from Monday 09:00; "an hour before the next
    meeting" lands at Wednesday 13:00, stopping on Tuesday at 14:00 for the reminder a day
    ahead: the group gets both reminders, each at its moment and neither marked late. With
    no meeting more than an hour ahead, the jump is refused."""
    box, page, _ = sandbox
    monday = await jump(page, "monday-9")
    starts = (monday + timedelta(days=2)).replace(hour=14, minute=0)
    await schedule_meeting(page, starts)

    landed = await jump(page, "meeting-1h")
    assert landed == starts - timedelta(hours=1)
    assert now_of(page) >= landed

    await page.until(lambda s: len(meeting_reminders(page)) >= 2)
    shown = meeting_reminders(page)
    assert len(shown) == 2, [m["html"] for m in shown]
    for message, ahead in zip(shown, (timedelta(hours=24), timedelta(hours=1)), strict=True):
        due = starts - ahead
        assert due <= sent_at(message, box.tz) < due + ON_TIME, (ahead, message["date"])
        assert "此提醒已延迟" not in message["html"]
    queued = outbox(box, "meeting:%:remind:%")
    assert {(payload["offset_minutes"], payload["late"]) for _, payload, _ in queued} == {
        (24 * 60, False),
        (60, False),
    }
    assert {status for _, _, status in queued} == {"sent"}

    refused = await page.client.post("/api/time", json={"action": "meeting-1h"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "no_meeting"
    await page.until(lambda s: True)
    assert now_of(page) < starts
