"""司法审查通报 — judicial-review bulletins, driven through the real Application as their users
drive them: a court clerk publishes a bulletin with its document through /new, the agencies
confirm reading it (已阅) on the committee group's post or on their own notice, the office sees
in /case who has not read it, the agencies that have not are reminded after three working days,
an agency answers a rectification in writing and the court is told, and the court closes it.

Texts introduced by the bulletin are looked up through the catalog (``tr``), so the assertions
hold before and after the maintainer translates them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from bot.domain import alerts, lifecycle
from bot.domain.committee import Committee
from bot.domain.mechanisms import bulletin, default_registry
from bot.domain.models import Role
from bot.storage import schema as t
from tests.conftest import ADMIN_ID, SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import (
    GROUP,
    LI,
    QIAN,
    STRANGER,
    SUN,
    WANG,
    ZHAO,
    admin,
    alert_entries,
    bind_group,
    deadline_keys,
    member,
    on_button,
    rows,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


ZHOU = 2003  # head of the Chibei zone: the third agency

TITLE = "2026年第三季度行政案件司法审查情况通报"
PERIOD = "2026年第三季度"
SUMMARY = "本季度共审结以管委会各部门为被告的行政案件45件，行政机关败诉4件，败诉率8.9%。"
RECTIFY = "长白山管委会自然资源局：林地行政处罚未依法告知陈述申辩权利，请整改并书面答复。"
NUMBER = "通报〔2026〕1号"
NR, ENV, CHIBEI = "长白山管委会自然资源局", "长白山管委会生态环境局", "池北区"
# The departments and zones of the example committee, as the agency toggles name them.
ALL_AGENCIES = {
    "CBS-ADMIN": "长白山保护开发区管理委员会",
    "CBS-NR": NR,
    "CBS-ENV": ENV,
    "CBS-HOUSING": "长白山管委会住房和城乡建设局",
    "CBS-MARKET": "长白山管委会市场监督管理局",
    "CBS-HRSS": "长白山管委会人力资源和社会保障局",
    "CHIBEI": CHIBEI,
    "CHIXI": "池西区",
    "CHINAN": "池南区",
}


def read_label(bot: Harness) -> str:
    return bot.shown(bulletin.MARK_READ.label)


async def cast(bot: Harness) -> dict[str, FakeUser]:
    return {
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
        "zhou": await member(bot, ZHOU, "周建", "CHIBEI", Role.DEPARTMENT_HEAD),
    }


async def publish(
    bot: Harness,
    zhao: FakeUser,
    agencies: list[str] | None,
    *,
    rectify: str | None = None,
    rectify_by: str | None = None,
) -> Any:
    """The clerk publishes a bulletin through /new: ``agencies`` by name, or None for the
    "All departments and zones" toggle. Returns the recorded case row."""
    await bot.say(zhao, "/new")
    await bot.press(zhao, bot.shown(bulletin.KIND.label))
    await bot.say(zhao, TITLE)
    await bot.say(zhao, PERIOD)
    await bot.say(zhao, SUMMARY)
    if agencies is None:
        await bot.press(zhao, bot.shown("All departments and zones"))
        assert all(label.startswith("☑") for label in bot.labels(bot.last_with_buttons(zhao))[:9])
    else:
        for name in agencies:
            await bot.press(zhao, f"☐ {on_button(bot, name)}")
    await bot.press(zhao, "完成")
    if rectify is None:
        await bot.press(zhao, "跳过")
    else:
        await bot.say(zhao, rectify)
    if rectify_by is None:
        await bot.press(zhao, "不指定日期")
    else:
        await bot.say(zhao, rectify_by)
    await bot.send_document(zhao, "2026年第三季度司法审查通报.pdf", 480_000)
    await bot.press(zhao, "完成")
    summary = bot.last_text(zhao)
    assert TITLE in summary and PERIOD in summary and SUMMARY in summary
    await bot.press(zhao, "提请")
    assert NUMBER in bot.last_text(zhao)
    (case,) = await rows(bot, t.cases, t.cases.c.kind == "bulletin", t.cases.c.number == NUMBER)
    return case


async def states(bot: Harness, case_id: int) -> dict[str, tuple[str, str | None]]:
    """Each addressee's (state, running deadline)."""
    found = await rows(bot, t.assignments, t.assignments.c.case_id == case_id)
    return {r.addressee: (r.state, r.stage) for r in found}


async def events(bot: Harness, case_id: int) -> list[tuple[str, int | None]]:
    found = await rows(bot, t.events, t.events.c.case_id == case_id)
    return [(e.action, e.actor_user_id) for e in sorted(found, key=lambda e: e.id)]


def edits_in(bot: Harness, chat_id: int) -> int:
    return sum(
        1
        for method in ("editMessageText", "editMessageReplyMarkup", "deleteMessage")
        for call in bot.fake.calls_of(method)
        if int(call.params.get("chat_id") or 0) == chat_id
    )


def alert(bot: Harness, user: FakeUser) -> tuple[str, bool]:
    answer = bot.fake.callback_answers(user)[-1]
    return str(answer.get("text") or ""), bool(answer.get("show_alert"))


# ---------------------------------------------------------------------------- the declaration


def test_the_bulletin_is_registered_and_reminds_after_three_working_days() -> None:
    registry = default_registry()
    assert registry["bulletin"] is bulletin.KIND
    assert registry.by_prefix("通报") is bulletin.KIND
    kind = bulletin.KIND
    assert kind.several_addressees and kind.initial == "unread"
    (read,) = [a for a in kind.actions if a.in_group]
    assert read.code == "read" and not read.inputs and read.from_states == {"unread"}

    calendar = _calendar()
    # Published on Wednesday 25 November: due at the end of Monday 30 November (three working
    # days: Thursday, Friday, Monday); the reminder is the overdue alert of Tuesday 1 December.
    dues = lifecycle.due_dates(kind, {}, date(2026, 11, 25), 0, calendar, SHANGHAI)
    assert dues == {"read": date(2026, 11, 30)}
    schedule = _schedule()
    base = "case:1:a1:read"
    monday = alerts.alert_for(base, "read", dues["read"], date(2026, 11, 30), calendar, schedule)
    assert monday is not None and monday.level == "due_soon" and not monday.to_group
    tuesday = alerts.alert_for(base, "read", dues["read"], date(2026, 12, 1), calendar, schedule)
    assert tuesday is not None and (tuesday.level, tuesday.late, tuesday.to_group) == (
        "overdue",
        1,
        True,
    )
    # Across National Day (1–7 October; Saturday 10 October is a make-up working day): a
    # bulletin of Wednesday 30 September is due Saturday 10 October, reminded Monday 12.
    autumn = lifecycle.due_dates(kind, {}, date(2026, 9, 30), 0, calendar, SHANGHAI)
    assert autumn == {"read": date(2026, 10, 10)}
    sunday = alerts.alert_for(base, "read", autumn["read"], date(2026, 10, 11), calendar, schedule)
    assert sunday is None  # no working day has gone by since the due day
    late = alerts.alert_for(base, "read", autumn["read"], date(2026, 10, 12), calendar, schedule)
    assert late is not None and late.level == "overdue"


def _calendar() -> Any:
    from bot.config import parse_calendar
    from bot.domain.workdays import WorkingCalendar

    return WorkingCalendar(parse_calendar(None, "calendar"))


def _schedule() -> Any:
    from bot.config import load_committee
    from tests.conftest import ROOT

    return load_committee(ROOT / "committee.example.toml").schedule


# ---------------------------------------------------------------------------- publishing and reading


async def test_published_to_every_agency_read_in_the_group_and_the_rest_reminded(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang, zhou = people["zhao"], people["li"], people["wang"], people["zhou"]
        group = await bind_group(bot)
        office = admin(bot)

        # The clerk is offered the court's kind only, not the agencies' consultations.
        await bot.say(zhao, "/new")
        offered = bot.labels(bot.last_with_buttons(zhao))
        assert bot.shown(bulletin.KIND.label) in offered
        assert "重大事项研判" not in offered and "行政争议协调化解" not in offered
        await bot.say(zhao, "/cancel")

        case = await publish(bot, zhao, None)
        assert (case.status, case.raiser_org, case.raiser_user_id) == ("open", "YB-IPC", ZHAO)
        assert case.title == TITLE
        assert case.fields["period"] == PERIOD and case.fields["description"] == SUMMARY
        assert case.fields["agencies"] == list(ALL_AGENCIES)
        assert case.fields["rectify"] is None and case.fields["rectify_by"] is None
        assert "document" not in case.fields  # documents are stored apart from the fields
        (doc,) = await rows(bot, t.case_files, t.case_files.c.case_id == case.id)
        assert (doc.media, doc.file_name) == ("document", "2026年第三季度司法审查通报.pdf")
        # One row per agency, each unread with the reading deadline running.
        assert await states(bot, case.id) == {code: ("unread", "read") for code in ALL_AGENCIES}
        dues = {r.due for r in await rows(bot, t.assignments, t.assignments.c.case_id == case.id)}
        assert dues == {date(2026, 11, 30)}
        assert await events(bot, case.id) == [("submitted", ZHAO)]
        queued = await rows(bot, t.outbox, t.outbox.c.payload["case_id"].as_integer() == case.id)
        by_kind: dict[str, set[int]] = {}
        for row in queued:
            by_kind.setdefault(row.kind, set()).add(row.chat_id)
        # The three agencies with a member are notified, the group gets its post, and the
        # office is told that six agencies have nobody to read it yet.
        assert by_kind == {
            "case_new": {LI, WANG, ZHOU},
            "case_group": {GROUP},
            "case_unstaffed": {ADMIN_ID},
        }

        # The group's post has the 已阅 button.
        post = bot.last_with_buttons(group)
        assert NUMBER in post["text"] and TITLE in post["text"]
        assert bot.labels(post) == [read_label(bot), "在私聊中打开"]
        # Each agency's head has the bulletin with a 已阅 button for their organisation.
        notice = bot.last_with_buttons(wang)
        assert NUMBER in notice["text"] and PERIOD in notice["text"] and SUMMARY in notice["text"]
        assert bot.labels(notice) == [read_label(bot), "📎 附件（1）"]

        # LI presses 已阅 in the group: recorded for his agency, told privately, post unchanged.
        group_posts, group_edits = len(bot.texts(group)), edits_in(bot, GROUP)
        zhao_before = len(bot.texts(zhao))
        await bot.press(li, read_label(bot), message=post)
        assert alert(bot, li) == (
            bot.shown("Recorded: %(action)s.", action=bot.shown(bulletin.MARK_READ.done)),
            True,
        )
        assert bot.fake.message(GROUP, post["message_id"]) == post
        assert (len(bot.texts(group)), edits_in(bot, GROUP)) == (group_posts, group_edits)
        (nr,) = await rows(
            bot,
            t.assignments,
            t.assignments.c.case_id == case.id,
            t.assignments.c.addressee == "CBS-NR",
        )
        assert (nr.state, nr.stage, nr.due, nr.acted_by) == ("read", None, None, LI)
        assert await events(bot, case.id) == [("submitted", ZHAO), ("read", LI)]
        (read_event,) = await rows(
            bot, t.events, t.events.c.case_id == case.id, t.events.c.action == "read"
        )
        assert read_event.assignment_id == nr.id
        # The court hears of it, with how many have read it so far.
        told = bot.texts(zhao)[zhao_before:]
        assert len(told) == 1 and NUMBER in told[0] and NR in told[0]
        unread_names = [name for code, name in ALL_AGENCIES.items() if code != "CBS-NR"]
        assert (
            bot.shown(
                "Read so far: %(read)s of %(total)s. Not yet read: %(orgs)s.",
                read=1,
                total=9,
                orgs="、".join(unread_names),
            )
            in told[0]
        )

        # A second press for the same agency says it was read already, and changes nothing.
        await bot.press(li, read_label(bot), message=post)
        text, shown = alert(bot, li)
        assert shown and "李明" in text and bot.shown(bulletin.READ.label) in text
        assert await events(bot, case.id) == [("submitted", ZHAO), ("read", LI)]
        assert len(bot.texts(zhao)) == zhao_before + 1

        # The clerk who published it, a clerk of another court, the office and a stranger are
        # refused, and nothing changes anywhere.
        sun = await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF)
        stranger = bot.user(STRANGER, "路人")
        recorded = bot.shown("Recorded: %(action)s.", action=bot.shown(bulletin.MARK_READ.done))
        before = await states(bot, case.id)
        for presser in (zhao, sun, office, stranger):
            await bot.press(presser, read_label(bot), message=post)
            text, shown = alert(bot, presser)
            assert shown and text and text != recorded
            assert NUMBER not in text and TITLE not in text
        # An observer is told what an observer may do, not that only the addressees may.
        qian = await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)
        await bot.press(qian, read_label(bot), message=post)
        assert alert(bot, qian) == ("观察员可查看事项，但不能办理。", True)
        assert await states(bot, case.id) == before
        assert await events(bot, case.id) == [("submitted", ZHAO), ("read", LI)]
        assert (len(bot.texts(group)), edits_in(bot, GROUP)) == (group_posts, group_edits)

        # WANG reads it from his own notice: the bulletin stays readable in his chat.
        await bot.press(wang, read_label(bot), message=notice)
        receipt = bot.fake.message(wang, notice["message_id"])["text"]
        assert NUMBER in receipt and SUMMARY in receipt and PERIOD in receipt
        assert (await states(bot, case.id))["CBS-ENV"] == ("read", None)

        # The office sees in /case which agencies have not read it.
        await bot.say(office, f"/case {NUMBER}")
        shown_case = bot.last_text(office)
        unread = bot.shown(bulletin.UNREAD.label)
        for code, name in ALL_AGENCIES.items():
            state = bot.shown(bulletin.READ.label) if code in ("CBS-NR", "CBS-ENV") else unread
            assert f"• {name}：{state}" in shown_case, shown_case
        assert shown_case.count(f"：{unread} · 期限：2026年11月30日（周一）") == 7

        # Friday: a day before the due day, only the agency that has not read it is warned.
        await bot.tick(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI))
        assert [x for x in alert_entries(bot, zhou, "⏰") if NUMBER in x]
        assert not alert_entries(bot, li) + alert_entries(bot, wang)
        assert not alert_entries(bot, group)
        # Monday is the third working day, the due day itself: no reminder yet.
        await bot.tick(datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI))
        assert not alert_entries(bot, zhou, "🔴") + alert_entries(bot, group, "🔴")
        # Tuesday, after three working days: every agency that has not read it is reminded,
        # in the group and privately; LI's and WANG's agencies are not.
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        overdue = [x for x in alert_entries(bot, group, "🔴") if NUMBER in x]
        reminded = {code for code, name in ALL_AGENCIES.items() if any(name in x for x in overdue)}
        assert len(overdue) == 7
        assert reminded == set(ALL_AGENCIES) - {"CBS-NR", "CBS-ENV"}
        assert any(
            f"{bot.shown('To act')}：{CHIBEI}\n" in x
            and "：2026年11月30日（周一） · 已逾期1个工作日" in x
            for x in overdue
        )
        private = [x for x in alert_entries(bot, zhou, "🔴") if NUMBER in x]
        assert len(private) == 1 and CHIBEI in private[0]
        assert not alert_entries(bot, li) + alert_entries(bot, wang)
        keys = await deadline_keys(bot)
        assignment_ids = {
            r.addressee: r.id
            for r in await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
        }
        for code in ("CBS-NR", "CBS-ENV"):
            assert not [k for k in keys if f":a{assignment_ids[code]}:" in k]
        assert f"case:{case.id}:a{assignment_ids['CHIBEI']}:read:overdue:{ZHOU}" in keys
        assert f"case:{case.id}:a{assignment_ids['CHIBEI']}:read:overdue:{GROUP}" in keys

        # The reminder carries the 已阅 button: ZHOU reads it from there; reading stops it.
        await bot.press(zhou, read_label(bot), message=bot.last_with_buttons(zhou))
        assert (await states(bot, case.id))["CHIBEI"] == ("read", None)
        await bot.tick(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))  # escalation day
        assert not [x for x in bot.texts(zhou) if x.startswith("🚨")]
        # One 督办 message to the group lists the six agencies still unread, not CHIBEI.
        (escalation,) = [x for x in bot.texts(group) if x.startswith("🚨")]
        escalated = escalation.split("\n\n")[1:]
        assert len(escalated) == 6 and all(x.startswith(f"🚨 {NUMBER}") for x in escalated)
        # One matter, one link to open it, however many agencies are late on it.
        posted = bot.last_with_buttons(group)
        assert posted["text"].startswith("🚨") and bot.labels(posted) == [NUMBER]
        assert not any(CHIBEI in x for x in escalated)
        # Reading alone never closes a bulletin: it stays open for the court.
        (case,) = await rows(bot, t.cases, t.cases.c.id == case.id)
        assert case.status == "open"


# ---------------------------------------------------------------------------- rectification and closing


async def test_a_rectification_answered_in_writing_and_the_bulletin_closed_by_the_court(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang, zhou = people["zhao"], people["li"], people["wang"], people["zhou"]
        group = await bind_group(bot)
        office = admin(bot)
        case = await publish(bot, zhao, [NR, ENV, CHIBEI], rectify=RECTIFY, rectify_by="2026-12-31")
        assert case.fields["rectify"] == RECTIFY and case.fields["rectify_by"] == "2026-12-31"
        assert await states(bot, case.id) == {
            "CBS-NR": ("unread", "read"),
            "CBS-ENV": ("unread", "read"),
            "CHIBEI": ("unread", "read"),
        }
        # Nobody is missing: the office is not asked to follow up.
        assert not await rows(bot, t.outbox, t.outbox.c.kind == "case_unstaffed")
        notice = bot.last_text(li)
        assert (
            RECTIFY in notice and "2026年12月31日（周四）" in notice and f"/case {NUMBER}" in notice
        )

        # LI answers in writing from /case before pressing 已阅 (answering counts as reading).
        await bot.say(li, f"/case {NUMBER}")
        answer_label = bot.shown(bulletin.ANSWER_IN_WRITING.label)
        assert answer_label in bot.labels(bot.last_with_buttons(li))
        zhao_before = len(bot.texts(zhao))
        await bot.press(li, answer_label)
        await bot.say(li, "已对涉案林地处罚案件逐件复查，补充告知程序，并修订执法流程。")
        await bot.send_document(li, "整改情况报告.pdf", 210_000)
        await bot.press(li, "完成")
        assert NUMBER in bot.last_text(li)
        (nr,) = await rows(
            bot,
            t.assignments,
            t.assignments.c.case_id == case.id,
            t.assignments.c.addressee == "CBS-NR",
        )
        assert (nr.state, nr.stage, nr.acted_by) == ("answered", None, LI)
        assert nr.answers == {
            "answer": {"answer": "已对涉案林地处罚案件逐件复查，补充告知程序，并修订执法流程。"}
        }
        files = await rows(bot, t.case_files, t.case_files.c.case_id == case.id)
        assert sorted(f.file_name for f in files) == [
            "2026年第三季度司法审查通报.pdf",
            "整改情况报告.pdf",
        ]
        (answered,) = await rows(
            bot, t.events, t.events.c.case_id == case.id, t.events.c.action == "answer"
        )
        assert (answered.actor_user_id, answered.assignment_id) == (LI, nr.id)
        assert answered.detail["files"] == 1 and "修订执法流程" in answered.detail["answer"]
        # The court is told, with the answer and its document.
        told = bot.texts(zhao)[zhao_before:]
        assert len(told) == 1
        assert NUMBER in told[0] and "修订执法流程" in told[0] and NR in told[0]
        assert "📎 1个文件" in told[0]
        outbox = await rows(
            bot, t.outbox, t.outbox.c.kind == "case_action", t.outbox.c.chat_id != ZHAO
        )
        assert outbox == []  # nobody else hears of it

        # A 已阅 press after answering says it was already done.
        post = bot.last_with_buttons(group)
        await bot.press(li, read_label(bot), message=post)
        text, _ = alert(bot, li)
        assert bot.shown(bulletin.ANSWERED.label) in text
        # The others read it in the group; the court's last receipt says everyone has.
        await bot.press(wang, read_label(bot), message=post)
        await bot.press(zhou, read_label(bot), message=post)
        assert await states(bot, case.id) == {
            "CBS-NR": ("answered", None),
            "CBS-ENV": ("read", None),
            "CHIBEI": ("read", None),
        }
        (case,) = await rows(bot, t.cases, t.cases.c.id == case.id)
        assert case.status == "open"  # a written answer may still come
        last = bot.last_with_buttons(zhao)
        assert CHIBEI in last["text"]
        assert (
            bot.shown(
                "Every addressed agency has now read it. "
                "Close it once you have the written answers you asked for.",
            )
            in last["text"]
        )
        close_label = bot.shown(bulletin.CLOSE.label)
        assert close_label in bot.labels(last)
        # Nobody is reminded of a bulletin everyone has read.
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        assert not await deadline_keys(bot)

        # WANG's agency adds a written answer after reading it: still possible while open.
        await bot.say(wang, f"/case {NUMBER}")
        await bot.press(wang, bot.shown(bulletin.ANSWER_IN_WRITING.label))
        await bot.say(wang, "本局涉案事项已自查，无需整改。")
        await bot.press(wang, "完成")
        assert (await states(bot, case.id))["CBS-ENV"] == ("answered", None)
        assert any("无需整改" in x for x in bot.texts(zhao))
        # Every agency is done with it, yet it stays open: their /my still lists it.
        for user in (li, wang, zhou):
            await bot.say(user, "/my")
            assert NUMBER in bot.last_text(user)

        # The court closes it from its receipt: a note is asked for first (Skip closes it).
        await bot.press(zhao, close_label, message=last)
        await bot.press(zhao, "跳过")
        (case,) = await rows(bot, t.cases, t.cases.c.id == case.id)
        assert case.status == "closed"
        # Each agency keeps what it did.
        assert await states(bot, case.id) == {
            "CBS-NR": ("answered", None),
            "CBS-ENV": ("answered", None),
            "CHIBEI": ("read", None),
        }
        assert [a for a, _ in await events(bot, case.id)] == [
            "submitted",
            "answer",
            "read",
            "read",
            "answer",
            "close",
        ]
        # Once closed, no more answers are offered, and /my no longer lists it.
        await bot.say(li, f"/case {NUMBER}")
        assert all(
            not label.startswith(bot.shown(bulletin.ANSWER_IN_WRITING.label))
            for label in bot.labels(bot.last_with_buttons(li))
        )
        await bot.say(office, f"/case {NUMBER}")
        assert bot.shown(bulletin.CLOSED.label) in bot.last_text(office)
        for user in (li, zhao):
            await bot.say(user, "/my")
            assert NUMBER not in bot.last_text(user)


async def test_closing_with_an_agency_unread_stops_its_reminders(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, zhou = people["zhao"], people["li"], people["zhou"]
        group = await bind_group(bot)
        case = await publish(bot, zhao, [NR, CHIBEI])
        await bot.press(li, read_label(bot), message=bot.last_with_buttons(group))

        # Friday's warning to ZHOU is queued; the court closes the bulletin on Monday.
        await bot.tick(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI))
        assert alert_entries(bot, zhou, "⏰")
        bot.clock.set(datetime(2026, 11, 30, 15, 0, tzinfo=SHANGHAI))
        await bot.say(zhao, f"/case {NUMBER}")
        await bot.press(zhao, bot.shown(bulletin.CLOSE.label))
        await bot.say(zhao, "池北区未回复，已电话告知。")
        assert await states(bot, case.id) == {"CBS-NR": ("read", None), "CHIBEI": ("closed", None)}
        (case,) = await rows(bot, t.cases, t.cases.c.id == case.id)
        assert case.status == "closed"
        (closed,) = await rows(
            bot, t.events, t.events.c.case_id == case.id, t.events.c.action == "close"
        )
        assert closed.detail == {"note": "池北区未回复，已电话告知。"}

        # Tuesday: no reminder for a closed bulletin, in the group or to ZHOU.
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        assert not alert_entries(bot, zhou, "🔴") + alert_entries(bot, group, "🔴")
        # ZHOU's late press on the group post changes nothing.
        await bot.press(zhou, read_label(bot), message=bot.last_with_buttons(group))
        text, shown = alert(bot, zhou)
        assert shown and text != bot.shown(
            "Recorded: %(action)s.", action=bot.shown(bulletin.MARK_READ.done)
        )
        assert await states(bot, case.id) == {"CBS-NR": ("read", None), "CHIBEI": ("closed", None)}
