"""The court-side mechanisms over HTTP: bot.py as a real process, real time, the fake Bot API.

出庭应诉: a court clerk registers a hearing for tomorrow through /new; the agency names a deputy
with the reason; after a restart the bot's first tick sends the reminder a day before the
hearing; the court records who appeared. 裁执分离: the court hands over a ruling with its
document; the agency confirms receipt and reports; the court asks again, then closes it, with
the hand-over deadlines taken from the committee file. Nothing sleeps: every wait is on the
fake's condition.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_committee
from bot.domain.mechanisms import handover, hearing
from bot.domain.workdays import CalendarOverrides, WorkingCalendar
from tests.e2e.conftest import ADMIN_ID, World, on_button, zh
from tests.fakes.telegram import FakeUser

GROUP = -1001234567890
SHANGHAI = ZoneInfo("Asia/Shanghai")
NR = "长白山管委会自然资源局"
PARTY = "张三"


@pytest.fixture
def committee_tweak() -> Callable[[str], str]:
    """The hand-over's deadlines from the committee file, not the declared defaults."""
    return lambda text: text.replace(
        "[deadlines.handover]\nreceipt_working_days = 3\nresult_working_days = 30\n",
        "[deadlines.handover]\nreceipt_working_days = 2\nresult_working_days = 20\n",
    )


def db_rows(world: World, sql: str) -> list[tuple[object, ...]]:
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def cast(world: World) -> tuple[FakeUser, FakeUser, FakeUser]:
    admin = world.fake.user(ADMIN_ID, "办公室管理员")
    group = world.fake.group(GROUP, "长白山府院联动群", add_bot=True)
    assert "委员会工作群" in world.say(admin, "/bindgroup", chat=group)
    zhao = world.fake.user(3001, "赵法官")
    li = world.fake.user(2001, "李明")
    wang = world.fake.user(2002, "王强")
    world.join(zhao, "延边州中级人民法院", "法院工作人员")
    world.join(li, NR, "部门负责人")
    world.join(wang, "长白山管委会生态环境局", "部门负责人")
    return zhao, li, wang


def wait_text(world: World, user: FakeUser, *parts: str) -> str:
    """The first message to ``user`` that contains every part, once it has arrived."""

    def found() -> str | None:
        return next((x for x in world.fake.texts_to(user) if all(p in x for p in parts)), None)

    world.wait(lambda: found() is not None)
    text = found()
    assert text is not None
    return text


def test_hearing_named_reminded_and_recorded_over_http(world: World) -> None:
    zhao, li, wang = cast(world)
    # A hearing tomorrow, a little less than a day ahead: the 1-day reminder is due at once.
    moment = (datetime.now(SHANGHAI) + timedelta(hours=23, minutes=50)).replace(
        second=0, microsecond=0
    )

    world.say(zhao, "/new")
    world.press(zhao, zh(hearing.KIND.label), wait="edit")
    world.say(zhao, "（2026）吉24行初31号")
    world.say(zhao, "土地行政登记")
    world.press(zhao, on_button(NR), wait="edit")
    world.say(zhao, "第二审判庭")
    world.say(zhao, moment.date().isoformat())
    world.say(zhao, moment.strftime("%H:%M"))
    world.press(zhao, zh("✔ Done"), wait="edit")
    assert "（2026）吉24行初31号" in world.last_text(zhao)  # the summary
    before = world.count(li)
    world.press(zhao, zh("📨 Submit"), wait="edit")
    today = datetime.now(SHANGHAI).date()
    row = db_rows(world, "select number, fields from cases")[0]
    number = str(row[0])
    assert number.startswith("应诉〔")
    assert json.loads(str(row[1]))["hearing"] == moment.isoformat()
    assert number in world.last_text(zhao)
    # Due today: two working days before tomorrow's hearing is already past.
    assert db_rows(world, "select addressee, state, stage, due from assignments") == [
        ("CBS-NR", "submitted", "name", today.isoformat())
    ]

    # The agency head names a deputy, with the reason.
    world.wait_messages(li, before + 1)
    notice = world.last_with_buttons(li)
    assert number in notice["text"] and "第二审判庭" in notice["text"]
    world.press(li, zh("🧑‍⚖️ Name who appears"), message=notice)
    # The question, not a deadline alert that may arrive at the same moment.
    deputy = zh("A deputy (the head cannot appear)")
    world.wait(lambda: deputy in str(world.last_with_buttons(li).get("reply_markup")))
    world.press(li, deputy, wait="edit")
    world.say(li, "张伟")
    world.say(li, "副局长")
    world.say(li, "局长在省里参加培训。")
    told = wait_text(world, zhao, number, "张伟", "局长在省里参加培训")
    assert zh("A deputy (the head cannot appear)") in told
    assert db_rows(world, "select state, note from assignments") == [
        ("named", "局长在省里参加培训。")
    ]

    # Another agency cannot record or name anything.
    case_id = db_rows(world, "select id from cases")[0][0]
    refusal = world.press(
        wang,
        message=world.fake.last_message_to(wang),
        data=f"v:name_official:{case_id}",
        wait="answer",
    )
    assert refusal == zh("Only the addressed organisations can do this.")

    # Restarted: the first tick sends the reminder a day before the hearing, once.
    world.bot.stop()
    world.bot.start()
    reminder = wait_text(world, li, "⏰ " + zh("Reminder"), number)
    assert NR in reminder
    assert db_rows(world, "select chat_id from outbox where kind = 'case_reminder'") == [(2001,)]
    assert (
        len(
            [
                x
                for x in world.fake.texts_to(li)
                if x.startswith("⏰ " + zh("Reminder")) and number in x
            ]
        )
        == 1
    )

    # Who appeared is recorded once the hearing has begun (tomorrow; the court's morning
    # summary asks for it then, as tests/test_mech_hearing.py plays on a manual clock): the
    # court's notice offers no button for it now, and a press of one is refused.
    named = world.last_with_buttons(zhao)
    assert zh("🏛 Record the appearance") not in str(named.get("reply_markup"))
    early = world.press(zhao, message=named, data=f"v:record_hearing:{case_id}", wait="answer")
    weekday = "一二三四五六日"[moment.weekday()]
    when = f"{moment.year}年{moment.month}月{moment.day}日（周{weekday}）{moment:%H:%M}"
    assert early == zh(
        "The appearance can be recorded once the hearing has begun (%(moment)s)."
    ).replace("%(moment)s", when)
    assert db_rows(world, "select state, outcome from assignments") == [("named", None)]
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == ["submitted", "name_official"]


def test_handover_received_reported_asked_again_and_closed_over_http(
    world: World, tmp_path: Path
) -> None:
    zhao, li, _ = cast(world)

    world.say(zhao, "/new")
    world.press(zhao, zh(handover.KIND.label), wait="edit")
    world.say(zhao, "（2026）吉24行审9号")
    world.say(zhao, "限期拆除违法建筑")
    world.say(zhao, PARTY)
    world.press(zhao, on_button(NR), wait="edit")
    before = world.count(zhao)
    world.fake.send_document(zhao, "准予强制执行裁定书.pdf", 150_000)
    world.wait_messages(zhao, before + 1)
    world.press(zhao, zh("✔ Done"), wait="edit")
    assert PARTY in world.last_text(zhao)  # the summary
    li_before = world.count(li)
    world.press(zhao, zh("📨 Submit"), wait="edit")
    today = datetime.now(SHANGHAI).date()
    number = str(db_rows(world, "select number from cases")[0][0])
    assert number.startswith("裁执〔") and number in world.last_text(zhao)
    assert db_rows(world, "select file_name from case_files") == [("准予强制执行裁定书.pdf",)]

    # The committee file's deadlines: receipt in 2 working days, the result in 20.
    committee = load_committee(tmp_path / "committee.toml")
    calendar = WorkingCalendar(committee.calendar or CalendarOverrides())
    dues = json.loads(str(db_rows(world, "select dues from assignments")[0][0]))
    assert dues == {
        "receipt": calendar.add_working_days(today, 2).isoformat(),
        "result": calendar.add_working_days(today, 20).isoformat(),
    }

    # Receipt, then the report with its note.
    world.wait_messages(li, li_before + 1)
    notice = world.last_with_buttons(li)
    assert number in notice["text"] and PARTY in notice["text"]
    world.press(li, zh("📥 Confirm receipt"), message=notice, wait="edit")
    assert db_rows(world, "select state, stage from assignments") == [("received", "result")]
    world.say(li, f"/case {number}")
    world.press(li, zh("📤 Report the result"))
    world.press(li, zh("Partly enforced"), wait="edit")
    world.say(li, "主体建筑已拆除，附属设施尚未拆除。")
    world.press(li, zh("✔ Done"), wait="edit")
    assert db_rows(world, "select state, outcome from assignments") == [("reported", "partly")]

    # The court asks again; the agency reports in full; the court closes it.
    report = wait_text(world, zhao, number, "附属设施尚未拆除")
    assert zh("Partly enforced") in report
    world.press(zhao, zh("🔁 Ask again"), message=world.last_with_buttons(zhao))
    world.say(zhao, "请拆除附属设施后再报告。")
    wait_text(world, li, number, "请拆除附属设施后再报告")
    assert db_rows(world, "select state, round, outcome from assignments") == [
        ("received", 1, None)
    ]
    world.press(li, zh("📤 Report the result"), message=world.last_with_buttons(li))
    world.press(li, zh("Enforced in full"), wait="edit")
    world.say(li, "附属设施已拆除完毕。")
    world.press(li, zh("✔ Done"), wait="edit")
    wait_text(world, zhao, number, "附属设施已拆除完毕")
    world.press(zhao, zh("✅ Accept and close"), message=world.last_with_buttons(zhao), wait="edit")
    wait_text(world, li, number, zh("Accepted and closed"))
    assert db_rows(world, "select c.status, a.outcome from cases c join assignments a") == [
        ("resolved", "completed")
    ]
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == [
        "submitted",
        "confirm_receipt",
        "report_result",
        "ask_again",
        "report_result",
        "close",
    ]
    # The group saw the hand-over, never the party.
    posts = world.fake.texts_to(GROUP)
    assert any(number in x for x in posts)
    assert not any(PARTY in x for x in posts)
