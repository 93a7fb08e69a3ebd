"""出庭应诉 — a court registers a hearing, the defendant agency names who appears, is reminded
before the hearing, and the court records who appeared (kept per agency for the figures).

Driven as the users would, through the real Application: the court clerk 赵法官 of the Yanbian
court raises; 李明, head of the Natural Resources Bureau, answers. Labels of this mechanism are
looked up through the bot's own translation, so the checks hold once the Chinese catalog has
them.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

import pytest

from bot.domain.committee import Committee
from bot.domain.errors import InvalidInput
from bot.domain.mechanisms import consultation, handover, hearing
from bot.domain.models import Case, Role
from bot.storage import schema as t
from handlers import buttons
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import (
    GROUP,
    LI,
    STRANGER,
    WANG,
    ZHAO,
    admin,
    alert_entries,
    all_seen,
    bind_group,
    deadline_keys,
    member,
    not_member_text,
    on_button,
    rows,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


DOCKET = "（2026）吉24行初12号"
CAUSE = "林业行政处罚"
COURTROOM = "第三审判庭"
NR = "长白山管委会自然资源局"
REFUSED = "Only the addressed organisations can do this."


async def cast(bot: Harness) -> dict[str, FakeUser]:
    return {
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
    }


async def seed(bot: Harness, moment: datetime, docket: str = DOCKET) -> Case:
    """A hearing notice as a finished /new would record it."""
    viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
    outcome = await bot.svc.submit(
        viewer,
        "hearing",
        {
            "docket": docket,
            "title": CAUSE,
            "agency": "CBS-NR",
            "courtroom": COURTROOM,
            "hearing": moment.isoformat(),
            "documents": [],
        },
        secrets.token_hex(8),
    )
    assert outcome.changed
    await bot.flush_outbox()
    return outcome.case


async def assignment(bot: Harness, case_id: int) -> Any:
    (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == case_id)
    return row


async def actions(bot: Harness, case_id: int) -> list[str]:
    found = await rows(bot, t.events, t.events.c.case_id == case_id)
    return [e.action for e in sorted(found, key=lambda e: e.id)]


def reminders(bot: Harness, user: FakeUser, case: Case) -> list[str]:
    heading = bot.shown("Reminder")
    return [x for x in bot.texts(user) if x.startswith(f"⏰ {heading}") and case.number in x]


async def name_official(
    bot: Harness, head: FakeUser, message: dict[str, Any], label: str, answers: list[str]
) -> None:
    """The agency head presses the naming button, chooses who appears and types the rest."""
    await bot.press(head, bot.shown(label), message=message)
    await bot.press(head, answers[0])
    for text in answers[1:]:
        await bot.say(head, text)


async def test_the_court_registers_a_hearing_and_the_head_is_named_reminded_and_recorded(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)

        # The court clerk is offered the court's kinds; the form asks the court's questions.
        await bot.say(zhao, "/new")
        offered = bot.labels(bot.last_with_buttons(zhao))
        assert bot.shown(hearing.KIND.label) in offered
        assert bot.shown(handover.KIND.label) in offered
        assert bot.shown(consultation.KIND.label) not in offered
        await bot.press(zhao, bot.shown(hearing.KIND.label))
        await bot.say(zhao, DOCKET)
        await bot.say(zhao, CAUSE)
        await bot.press(zhao, on_button(bot, NR))
        await bot.say(zhao, COURTROOM)
        await bot.say(zhao, "12月9日")  # a Wednesday, two weeks ahead
        assert "2026年12月9日（周三）" in bot.last_text(zhao)  # now asked for the time
        await bot.say(zhao, "9点半")
        await bot.press(zhao, bot.shown("✔ Done"))  # no documents
        summary = bot.last_text(zhao)
        for shown in (DOCKET, CAUSE, NR, COURTROOM, "2026年12月9日（周三）09:30"):
            assert shown in summary, summary
        await bot.press(zhao, bot.shown("📨 Submit"))
        assert "应诉〔2026〕1号" in bot.last_text(zhao)

        (case,) = await rows(bot, t.cases, t.cases.c.kind == "hearing")
        assert (case.number, case.status, case.raiser_org, case.title) == (
            "应诉〔2026〕1号",
            "submitted",
            "YB-IPC",
            CAUSE,
        )
        assert case.fields["docket"] == DOCKET and case.fields["courtroom"] == COURTROOM
        assert case.fields["hearing"] == "2026-12-09T09:30:00+08:00"
        # Name within 3 working days (Monday 30 November), and no later than 2 working days
        # before the hearing (Monday 7 December): the earlier one.
        row = await assignment(bot, case.id)
        assert (row.addressee, row.state, row.stage, row.due) == (
            "CBS-NR",
            "submitted",
            "name",
            date(2026, 11, 30),
        )
        assert row.dues == {"name": "2026-11-30"}
        assert await actions(bot, case.id) == ["submitted"]
        sent = {
            (r.kind, r.chat_id, r.status)
            for r in await rows(bot, t.outbox, t.outbox.c.key.like(f"case:{case.id}:%"))
        }
        assert sent == {("case_new", LI, "sent"), ("case_group", GROUP, "sent")}

        # The agency's head gets the notice with the one button; the group a short post.
        notice = bot.last_with_buttons(li)
        for shown in ("应诉〔2026〕1号", DOCKET, CAUSE, COURTROOM, "2026年12月9日（周三）09:30"):
            assert shown in notice["text"], notice["text"]
        assert (
            bot.shown("Name who appears by %(due)s.", due="2026年11月30日（周一）")
            in notice["text"]
        )
        assert bot.labels(notice) == [bot.shown("🧑‍⚖️ Name who appears")]
        (post,) = [x for x in bot.texts(group) if "应诉〔2026〕1号" in x]
        assert CAUSE in post and NR in post

        # The head names himself: three questions, the reason is not asked.
        await bot.press(li, bot.shown("🧑‍⚖️ Name who appears"), message=notice)
        assert bot.labels(bot.last_with_buttons(li)) == [
            bot.shown("The head of the agency"),
            bot.shown("A deputy (the head cannot appear)"),
            bot.shown("✖ Cancel"),
        ]
        await bot.press(li, bot.shown("The head of the agency"))
        assert "2/3" in bot.last_text(li)
        await bot.say(li, "李明")
        await bot.say(li, "局长")
        receipt = bot.last_text(li)
        assert "李明" in receipt and "局长" in receipt and "2026年12月9日（周三）09:30" in receipt
        assert bot.shown("The court has been told. You will be reminded before the hearing.") in (
            receipt
        )
        row = await assignment(bot, case.id)
        assert (row.state, row.stage, row.due, row.acted_by, row.note, row.outcome) == (
            "named",
            None,
            None,
            LI,
            None,
            None,
        )
        assert row.answers == {
            "name_official": {"appearing": "head", "official": "李明", "post": "局长"}
        }
        (named,) = await rows(
            bot, t.events, t.events.c.case_id == case.id, t.events.c.action == "name_official"
        )
        assert named.detail == {"appearing": "head", "official": "李明", "post": "局长"}
        assert (named.from_status, named.to_status) == ("submitted", "named")

        # The court sees who was named; who appeared is recorded once the hearing has begun,
        # not before: no button for it yet, and a press of one (an old message's) is refused.
        told = bot.last_with_buttons(zhao)
        for shown in ("李明", "局长", bot.shown("The head of the agency"), DOCKET, COURTROOM):
            assert shown in told["text"], told["text"]
        assert bot.shown("%(org)s named who appears in court.", org=NR) in told["text"]
        assert bot.shown("🏛 Record the appearance") not in bot.labels(told)
        await bot.say(zhao, "/case 应诉〔2026〕1号")
        assert bot.shown("🏛 Record the appearance") not in bot.labels(
            bot.fake.last_message_to(zhao)
        )
        await bot.press(zhao, message=told, data=buttons.action("record_hearing", case.id))
        assert bot.alerts(zhao)[-1] == bot.shown(
            "The appearance can be recorded once the hearing has begun (%(moment)s).",
            moment="2026年12月9日（周三）09:30",
        )
        assert (await assignment(bot, case.id)).state == "named"

        # Reminders before the hearing: not yet 3 days before, then 3 days, then 1 day.
        await bot.tick(datetime(2026, 12, 6, 9, 0, tzinfo=SHANGHAI))
        assert reminders(bot, li, case) == []
        await bot.tick(datetime(2026, 12, 6, 10, 0, tzinfo=SHANGHAI))
        (first,) = reminders(bot, li, case)
        expected = bot.shown(
            hearing.KIND.reminders[0].message, moment="2026年12月9日（周三）09:30", org=NR
        )
        assert expected in first
        await bot.tick(datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))  # nothing new
        assert len(reminders(bot, li, case)) == 1
        await bot.tick(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI))
        assert len(reminders(bot, li, case)) == 2
        keys = {
            r.key
            for r in await rows(bot, t.outbox, t.outbox.c.kind == "case_reminder")
            if r.status == "sent"
        }
        assert keys == {
            f"case:{case.id}:a{row.id}:remind:hearing:3:{LI}",
            f"case:{case.id}:a{row.id}:remind:hearing:1:{LI}",
        }
        assert reminders(bot, zhao, case) == []  # the court needs none

        # After the hearing the court records that the head appeared.
        await bot.tick(datetime(2026, 12, 9, 11, 0, tzinfo=SHANGHAI))
        assert len(reminders(bot, li, case)) == 2
        await bot.say(zhao, "/case 应诉〔2026〕1号")
        await bot.press(zhao, bot.shown("🏛 Record the appearance"))
        assert bot.labels(bot.last_with_buttons(zhao)) == [
            bot.shown("The head appeared"),
            bot.shown("A deputy appeared"),
            bot.shown("No official appeared"),
            bot.shown("✖ Cancel"),
        ]
        await bot.press(zhao, bot.shown("The head appeared"))
        row = await assignment(bot, case.id)
        assert (row.state, row.outcome, row.note) == ("heard", "head", None)
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "hearing")
        assert case.status == "heard"
        assert await actions(bot, case.id) == ["submitted", "name_official", "record_hearing"]
        last = bot.last_text(li)
        assert "应诉〔2026〕1号" in last and bot.shown("The head appeared") in last

        await bot.say(zhao, "/case 应诉〔2026〕1号")
        shown = bot.last_text(zhao)
        for line in (
            bot.shown("Appearance recorded"),
            bot.shown("Official named"),
            "李明",
            bot.shown("The head appeared"),
        ):
            assert line in shown, shown

        # The head's old button says it is over and changes nothing.
        await bot.press(li, message=notice, data=bot.fake.buttons(notice)[0][0][1])
        assert bot.shown("Appearance recorded") in bot.alerts(li)[-1]
        assert (await assignment(bot, case.id)).state == "heard"
        assert len(await actions(bot, case.id)) == 3


async def test_a_deputy_named_with_the_reason_by_a_deadline_counted_back_from_the_hearing(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)
        # Raised on Wednesday 25 November; the hearing is next Tuesday at 09:30.
        case = await seed(bot, datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI))
        row = await assignment(bot, case.id)
        # 3 working days would be Monday 30 November; 2 working days before the hearing is
        # Friday 27 November, which wins.
        assert (row.stage, row.due) == ("name", date(2026, 11, 27))
        notice = bot.last_with_buttons(li)
        assert (
            bot.shown("Name who appears by %(due)s.", due="2026年11月27日（周五）")
            in notice["text"]
        )

        # The day before it is due the agency is warned (privately, not the group).
        await bot.tick(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
        soon = [x for x in alert_entries(bot, li, "⏰") if case.number in x]
        assert len(soon) == 1 and f"{bot.shown('To act')}：{NR}\n" in soon[0]
        assert "：2026年11月27日（周五） · " + bot.shown("Due soon") in soon[0]
        assert not alert_entries(bot, group)

        # A deputy appears: the reason is asked as a fourth question.
        await bot.press(li, bot.shown("🧑‍⚖️ Name who appears"), message=notice)
        await bot.press(li, bot.shown("A deputy (the head cannot appear)"))
        assert "2/4" in bot.last_text(li)
        await bot.say(li, "张伟")
        await bot.say(li, "副局长")
        assert "4/4" in bot.last_text(li)
        await bot.say(li, "局长当日参加全省自然资源工作会议。")
        row = await assignment(bot, case.id)
        assert row.state == "named" and row.due is None
        assert row.answers["name_official"] == {
            "appearing": "deputy",
            "official": "张伟",
            "post": "副局长",
            "reason": "局长当日参加全省自然资源工作会议。",
        }
        assert row.note == "局长当日参加全省自然资源工作会议。"
        told = bot.last_with_buttons(zhao)["text"]
        for shown in (
            "张伟",
            "副局长",
            "全省自然资源工作会议",
            bot.shown("A deputy (the head cannot appear)"),
        ):
            assert shown in told, told

        # Named in time: no alert follows. Reminders go 3 days and 1 day before.
        await bot.tick(datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI))
        await bot.tick(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
        assert len(reminders(bot, li, case)) == 2
        assert not [x for x in bot.texts(group) if x.startswith("🔴")]

        # The head becomes free after all: the agency changes who appears.
        await bot.say(li, f"/case {case.number}")
        await bot.press(li, bot.shown("🔁 Change who appears"))
        await bot.press(li, bot.shown("The head of the agency"))
        await bot.say(li, "李明")
        await bot.say(li, "局长")
        row = await assignment(bot, case.id)
        assert row.state == "named"
        assert row.answers["change_official"] == {
            "appearing": "head",
            "official": "李明",
            "post": "局长",
        }
        assert row.answers["name_official"]["official"] == "张伟"  # the history stays
        changed = bot.texts(zhao)[-1]
        assert bot.shown("%(org)s changed who appears in court.", org=NR) in changed
        assert "李明" in changed

        # Nobody came: the court records it with the reason.
        bot.clock.set(datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI))
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, bot.shown("🏛 Record the appearance"))
        await bot.press(zhao, bot.shown("No official appeared"))
        assert "2/2" in bot.last_text(zhao)
        await bot.say(zhao, "被告未派员出庭，亦未说明理由。")
        row = await assignment(bot, case.id)
        assert (row.state, row.outcome, row.note) == (
            "heard",
            "none",
            "被告未派员出庭，亦未说明理由。",
        )
        assert "被告未派员出庭" in bot.texts(li)[-1]
        assert await actions(bot, case.id) == [
            "submitted",
            "name_official",
            "change_official",
            "record_hearing",
        ]


async def test_an_agency_that_does_not_answer_is_chased_and_reminded_with_its_button(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)
        case = await seed(bot, datetime(2026, 12, 9, 9, 30, tzinfo=SHANGHAI))
        row = await assignment(bot, case.id)
        assert row.due == date(2026, 11, 30)

        # Tuesday 1 December: one working day late. The group and the agency are told.
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        overdue = [x for x in alert_entries(bot, group, "🔴") if case.number in x]
        assert len(overdue) == 1 and f"{bot.shown('To act')}：{NR}\n" in overdue[0]
        assert "：2026年11月30日（周一） · 已逾期1个工作日" in overdue[0]
        assert [x for x in alert_entries(bot, li, "🔴") if case.number in x]
        assert not alert_entries(bot, zhao, "🔴")
        keys = await deadline_keys(bot)
        assert f"case:{case.id}:name:overdue:{GROUP}" in keys

        # The reminder 3 days before still carries the naming button.
        await bot.tick(datetime(2026, 12, 6, 10, 0, tzinfo=SHANGHAI))
        (reminder,) = [
            m
            for m in bot.fake.messages_to(li)
            if case.number in m.get("text", "")
            and m["text"].startswith("⏰ " + bot.shown("Reminder"))
        ]
        assert bot.shown("🧑‍⚖️ Name who appears") in bot.labels(reminder)

        # Nobody was named and nobody came: the court records it from the first state.
        bot.clock.set(datetime(2026, 12, 9, 12, 0, tzinfo=SHANGHAI))
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, bot.shown("🏛 Record the appearance"))
        await bot.press(zhao, bot.shown("No official appeared"))
        await bot.say(zhao, "未指派出庭人员。")
        row = await assignment(bot, case.id)
        assert (row.state, row.outcome, row.stage, row.due) == ("heard", "none", None, None)
        assert row.answers == {"record_hearing": {"outcome": "none", "reason": "未指派出庭人员。"}}


async def test_notes_both_ways_withdrawn_by_the_court_and_reopened_by_the_office(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        case = await seed(bot, datetime(2026, 12, 9, 9, 30, tzinfo=SHANGHAI))
        notice = bot.last_with_buttons(li)

        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, bot.shown("📝 Add a note"))
        await bot.say(zhao, "请携带答辩状原件及授权委托书。")
        await bot.press(zhao, bot.shown("✔ Done"))
        assert "请携带答辩状原件" in bot.texts(li)[-1]
        await bot.say(li, f"/case {case.number}")
        await bot.press(li, bot.shown("📝 Add a note"))
        await bot.say(li, "答辩状已于今日邮寄。")
        await bot.press(li, bot.shown("✔ Done"))
        assert "答辩状已于今日邮寄" in bot.texts(zhao)[-1]

        # The plaintiff withdraws the suit: the court withdraws the notice.
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, bot.shown("✖ Withdraw"))
        await bot.say(zhao, "原告申请撤诉。")
        row = await assignment(bot, case.id)
        assert (row.state, row.stage, row.due, row.note) == (
            "withdrawn",
            None,
            None,
            "原告申请撤诉。",
        )
        assert "原告申请撤诉" in bot.texts(li)[-1]
        # The notice lost its button; an old copy's press is refused and says why.
        name_official = bot.shown("🧑‍⚖️ Name who appears")
        assert name_official not in bot.labels(bot.fake.message(li, notice["message_id"]))
        await bot.press(li, message=notice, data=f"v:name_official:{case.id}")
        assert bot.alerts(li)[-1] == bot.shown("The matter was withdrawn.")
        assert (await assignment(bot, case.id)).state == "withdrawn"

        # The court refuses the withdrawal of the suit: the office reopens the notice on
        # Thursday 3 December. The deadline counts afresh: 3 working days would be Tuesday 8
        # December, 2 working days before the hearing is Monday 7 December.
        bot.clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI))
        office = admin(bot)
        await bot.say(office, f"/case {case.number}")
        await bot.press(office, bot.shown("🔄 Reopen"))
        await bot.say(office, "法院裁定不准许撤诉，继续开庭。")
        row = await assignment(bot, case.id)
        assert (row.state, row.round, row.stage, row.due) == (
            "submitted",
            1,
            "name",
            date(2026, 12, 7),
        )
        assert "不准许撤诉" in bot.texts(li)[-1] and "不准许撤诉" in bot.texts(zhao)[-1]
        # Reminders run again for the reopened notice.
        await bot.tick(datetime(2026, 12, 6, 10, 0, tzinfo=SHANGHAI))
        assert len(reminders(bot, li, case)) == 1
        assert await actions(bot, case.id) == [
            "submitted",
            "raiser_note",
            "note",
            "withdraw",
            "reopen",
        ]


async def test_who_may_not_raise_or_act_is_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang = people["zhao"], people["li"], people["wang"]
        stranger = bot.user(STRANGER, "路人")
        case = await seed(bot, datetime(2026, 12, 9, 9, 30, tzinfo=SHANGHAI))
        before = await assignment(bot, case.id)

        # A department head is not offered the court's kinds.
        await bot.say(li, "/new")
        offered = bot.labels(bot.last_with_buttons(li))
        assert bot.shown(consultation.KIND.label) in offered
        assert bot.shown(hearing.KIND.label) not in offered
        await bot.say(li, "/cancel")
        # ... and a stranger is told how to get in.
        await bot.say(stranger, "/new")
        assert bot.last_text(stranger) == not_member_text(STRANGER)

        # Another agency's head, the court itself and a stranger cannot name the official;
        # the agency cannot record the appearance.
        forged = f"v:name_official:{case.id}"
        for user in (wang, zhao, stranger):
            await bot.press(user, message=bot.fake.last_message_to(user), data=forged)
            assert bot.alerts(user)[-1] == bot.shown(REFUSED), user
        await bot.press(li, message=bot.last_with_buttons(li), data=f"v:record_hearing:{case.id}")
        assert bot.alerts(li)[-1] == bot.shown(REFUSED)
        after = await assignment(bot, case.id)
        assert (after.state, after.answers, after.acted_by) == (before.state, {}, None)
        assert await actions(bot, case.id) == ["submitted"]

        # Neither sees the matter.
        await bot.say(wang, f"/case {case.number}")
        assert bot.shown("You cannot see this matter.") in bot.last_text(wang)
        for outsider in (wang, stranger):
            seen = all_seen(bot, outsider)
            assert CAUSE not in seen and DOCKET not in seen


async def test_back_to_the_form_at_the_time_step_asks_for_the_time_again(
    committee: Committee, db_url: str
) -> None:
    """/new while a hearing's date is chosen and its time is awaited: the time question comes
    again (with its buttons), not the date's."""
    async with running_bot(committee, db_url) as bot:
        zhao = (await cast(bot))["zhao"]
        await bot.say(zhao, "/new")
        await bot.press(zhao, bot.shown(hearing.KIND.label))
        await bot.say(zhao, DOCKET)
        await bot.say(zhao, CAUSE)
        await bot.press(zhao, on_button(bot, NR))
        await bot.say(zhao, COURTROOM)
        await bot.say(zhao, "12月9日")
        await bot.say(zhao, "/new")
        again = bot.last_with_buttons(zhao)
        assert "2026年12月9日（周三）" in again["text"]
        assert "09:00" in bot.labels(again)  # the time choices, not a calendar
        draft = await bot.svc.load_draft(zhao.id, "form")
        assert draft is not None and draft.state == "AWAITING_TIME"
        assert draft.data["part"] == "2026-12-09"
        await bot.say(zhao, "9点半")
        await bot.press(zhao, bot.shown("✔ Done"))
        assert "2026年12月9日（周三）09:30" in bot.last_text(zhao)


async def test_the_reminders_moments_are_told_for_a_clock_moved_far_ahead(
    committee: Committee, db_url: str
) -> None:
    """Whoever moves the clock ahead at once (the sandbox) learns when a hearing's reminders
    fall due on the way (three days and one day before), to run the tick at each."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        await seed(bot, datetime(2026, 12, 9, 9, 30, tzinfo=SHANGHAI))
        moments = await bot.svc.reminder_moments(datetime(2026, 12, 31, tzinfo=SHANGHAI))
        assert moments == [
            datetime(2026, 12, 6, 9, 30, tzinfo=SHANGHAI),
            datetime(2026, 12, 8, 9, 30, tzinfo=SHANGHAI),
        ]
        assert await bot.svc.reminder_moments(datetime(2026, 12, 6, 9, tzinfo=SHANGHAI)) == []


async def test_a_naming_deadline_is_moot_after_the_hearing_and_the_court_is_asked_to_record(
    committee: Committee, db_url: str
) -> None:
    """Nobody was named before the hearing: the naming deadline is overdue and pressed (the
    summary, 督办) until the hearing begins, and no longer after it — the court is asked
    instead, each morning in its summary, to record who appeared, with the button."""
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)
        case = await seed(bot, datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI))  # a Tuesday
        assert ((await assignment(bot, case.id)).stage, (await assignment(bot, case.id)).due) == (
            "name",
            date(2026, 11, 27),
        )
        await bot.tick(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
        overdue = [x for x in alert_entries(bot, li, "🔴🚨") if case.number in x]
        assert overdue, "late before the hearing"
        assert [x for x in alert_entries(bot, group, "🔴🚨") if case.number in x]
        assert not [x for x in bot.texts(zhao) if "📝" in x]  # nothing to record yet
        # Nor can it be recorded, whatever asks.
        viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
        with pytest.raises(InvalidInput) as refused:
            await bot.svc.act(viewer, case.id, None, "record_hearing", {"outcome": "head"})
        assert refused.value.code == "too_early"
        assert (await assignment(bot, case.id)).state == "submitted"

        # The hearing was on Tuesday morning: from Wednesday nothing presses the naming.
        li_before, group_before, zhao_before = (len(bot.texts(c)) for c in (li, group, zhao))
        await bot.tick(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))
        await bot.tick(datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI))
        assert not [x for x in bot.texts(li)[li_before:] if case.number in x]
        assert not [x for x in bot.texts(group)[group_before:] if case.number in x]
        asks = [x for x in bot.texts(zhao)[zhao_before:] if case.number in x]
        expected = bot.shown(
            "The hearing was on %(moment)s: please record who appeared for %(org)s.",
            moment="2026年12月1日（周二）09:30",
            org=NR,
        )
        assert len(asks) == 2 and all(expected in x for x in asks), asks
        summaries = await rows(
            bot, t.outbox, t.outbox.c.kind == "deadline_summary", t.outbox.c.chat_id == ZHAO
        )
        assert [item["action"] for s in summaries for item in s.payload["items"]] == [
            "record_hearing",
            "record_hearing",
        ]
        # The summary names one matter: its button records from there.
        ask = bot.last_with_buttons(zhao)
        assert bot.shown("🏛 Record the appearance") in bot.labels(ask)
        await bot.press(zhao, bot.shown("🏛 Record the appearance"), message=ask)
        await bot.press(zhao, bot.shown("No official appeared"))
        await bot.say(zhao, "被告未派员出庭。")
        row = await assignment(bot, case.id)
        assert (row.state, row.outcome) == ("heard", "none")
        zhao_before = len(bot.texts(zhao))
        await bot.tick(datetime(2026, 12, 4, 10, 0, tzinfo=SHANGHAI))
        assert not [x for x in bot.texts(zhao)[zhao_before:] if case.number in x]
