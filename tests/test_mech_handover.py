"""裁执分离 — a court hands an enforcement ruling to the agency that organises enforcement; the
agency confirms receipt and reports the result; the court closes it or asks again.

Driven as the users would, through the real Application: the court clerk 赵法官 of the Yanbian
court hands over; 李明, head of the Natural Resources Bureau, answers. The party subject to
enforcement is personal data: it never reaches the committee group. Labels of this mechanism
are looked up through the bot's own translation, so the checks hold once the Chinese catalog
has them.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_committee
from bot.domain.committee import Committee
from bot.domain.mechanisms import consultation, handover
from bot.domain.models import Case, Role
from bot.storage import schema as t
from tests.conftest import ADMIN_ID, ROOT, SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import (
    GROUP,
    LI,
    STRANGER,
    WANG,
    ZHAO,
    alert_entries,
    all_seen,
    bind_group,
    member,
    not_member_text,
    on_button,
    rows,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


RULING = "（2026）吉24行审5号"
WHAT = "限期拆除违法建筑"
PARTY = "张三"
NR = "长白山管委会自然资源局"
REFUSED = "Only the addressed organisations can do this."


async def cast(bot: Harness) -> dict[str, FakeUser]:
    return {
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
    }


async def seed(bot: Harness) -> Case:
    """A hand-over as a finished /new would record it, with the ruling attached."""
    viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
    ruling = {"media": "document", "file_id": "F-ruling", "file_unique_id": "U-ruling"}
    outcome = await bot.svc.submit(
        viewer,
        "handover",
        {
            "ruling_number": RULING,
            "title": WHAT,
            "party": PARTY,
            "agency": "CBS-NR",
            "ruling": [ruling],
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


async def test_handed_over_received_reported_asked_again_and_closed(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)

        # The court hands the ruling over through /new; the ruling document is required.
        await bot.say(zhao, "/new")
        await bot.press(zhao, bot.shown(handover.KIND.label))
        await bot.say(zhao, RULING)
        await bot.say(zhao, WHAT)
        await bot.say(zhao, PARTY)
        await bot.press(zhao, on_button(bot, NR))
        await bot.press(zhao, bot.shown("✔ Done"))  # no document yet: asked for one
        assert bot.alerts(zhao)[-1] == bot.shown("Please send at least one document or photo.")
        assert bot.shown("Ruling document") in bot.last_text(zhao)
        await bot.send_document(zhao, "准予强制执行裁定书.pdf", 120_000)
        await bot.press(zhao, bot.shown("✔ Done"))
        summary = bot.last_text(zhao)
        for shown in (RULING, WHAT, PARTY, NR, bot.shown_n("%(n)s file", "%(n)s files", 1)):
            assert shown in summary, summary
        await bot.press(zhao, bot.shown("📨 Submit"))
        assert "裁执〔2026〕1号" in bot.last_text(zhao)

        (case,) = await rows(bot, t.cases, t.cases.c.kind == "handover")
        assert (case.number, case.status, case.raiser_org, case.title) == (
            "裁执〔2026〕1号",
            "submitted",
            "YB-IPC",
            WHAT,
        )
        assert case.fields == {
            "ruling_number": RULING,
            "title": WHAT,
            "party": PARTY,
            "agency": "CBS-NR",
        }
        (ruling,) = await rows(bot, t.case_files, t.case_files.c.case_id == case.id)
        assert ruling.file_name == "准予强制执行裁定书.pdf"
        # Receipt within 3 working days; the result within 30 working days of the hand-over
        # (26 working days left in 2026, New Year's Day off).
        row = await assignment(bot, case.id)
        assert (row.addressee, row.state, row.stage, row.due) == (
            "CBS-NR",
            "submitted",
            "receipt",
            date(2026, 11, 30),
        )
        assert row.dues == {"receipt": "2026-11-30", "result": "2027-01-07"}

        # The agency's head sees everything, the party included, with the deadlines.
        notice = bot.last_with_buttons(li)
        for shown in ("裁执〔2026〕1号", RULING, WHAT, PARTY):
            assert shown in notice["text"], notice["text"]
        assert (
            bot.shown("Confirm receipt by %(due)s.", due="2026年11月30日（周一）") in notice["text"]
        )
        assert (
            bot.shown("Report the result of enforcement by %(due)s.", due="2027年1月7日（周四）")
            in notice["text"]
        )
        assert bot.labels(notice) == [
            bot.shown("📥 Confirm receipt"),
            bot.shown("📎 Documents (%(n)s)", n=1),
        ]
        (post,) = [x for x in bot.texts(group) if "裁执〔2026〕1号" in x]
        assert WHAT in post and PARTY not in post

        # Receipt: one tap.
        await bot.press(li, bot.shown("📥 Confirm receipt"), message=notice)
        assert bot.alerts(li)[-1] == bot.shown(
            "Receipt of %(number)s confirmed.", number="裁执〔2026〕1号"
        )
        assert bot.shown(
            "Report the result of enforcement by %(due)s.", due="2027年1月7日（周四）"
        ) in bot.last_text(li)
        row = await assignment(bot, case.id)
        assert (row.state, row.stage, row.due, row.acted_by) == (
            "received",
            "result",
            date(2027, 1, 7),
            LI,
        )
        told = bot.texts(zhao)[-1]
        assert (
            bot.shown(
                "%(action)s by %(name)s (%(org)s) at %(when)s.",
                action=bot.shown("Receipt confirmed"),
                name="李明",
                org=NR,
                when="2026年11月25日（周三）10:00",
            )
            in told
        )
        # A second press of the same button (a copy on another device) changes nothing.
        await bot.press(li, message=notice, data=f"v:confirm_receipt:{case.id}")
        assert bot.alerts(li)[-1] == bot.shown("This button is no longer active.")

        # The agency reports a partial result with a photo as evidence.
        bot.clock.set(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI))
        await bot.say(li, "/case 裁执〔2026〕1号")
        await bot.press(li, bot.shown("📤 Report the result"))
        assert bot.labels(bot.last_with_buttons(li)) == [
            bot.shown("Enforced in full"),
            bot.shown("Partly enforced"),
            bot.shown("Could not be enforced"),
            bot.shown("✖ Cancel"),
        ]
        await bot.press(li, bot.shown("Partly enforced"))
        await bot.say(li, "主体建筑已拆除，附属设施因当事人阻挠未能拆除。")
        await bot.send_photo(li)
        await bot.press(li, bot.shown("✔ Done"))
        row = await assignment(bot, case.id)
        assert (row.state, row.outcome, row.stage, row.due) == ("reported", "partly", None, None)
        assert row.answers["report_result"] == {
            "outcome": "partly",
            "note": "主体建筑已拆除，附属设施因当事人阻挠未能拆除。",
        }
        assert len(await rows(bot, t.case_files, t.case_files.c.case_id == case.id)) == 2
        (reported,) = await rows(
            bot, t.events, t.events.c.case_id == case.id, t.events.c.action == "report_result"
        )
        assert reported.detail == {
            "outcome": "partly",
            "note": "主体建筑已拆除，附属设施因当事人阻挠未能拆除。",
            "files": 1,
        }
        report = bot.last_with_buttons(zhao)
        for shown in (
            bot.shown("Partly enforced"),
            "附属设施因当事人阻挠",
            bot.shown_n("%(n)s file", "%(n)s files", 1),
        ):
            assert shown in report["text"], report["text"]
        assert bot.labels(report)[:2] == [
            bot.shown("✅ Accept and close"),
            bot.shown("🔁 Ask again"),
        ]

        # The court asks again: back to reporting, with a fresh 30-working-day deadline.
        bot.clock.set(datetime(2026, 12, 10, 10, 0, tzinfo=SHANGHAI))
        await bot.press(zhao, bot.shown("🔁 Ask again"), message=report)
        await bot.say(zhao, "请拆除附属设施后再报告。")
        row = await assignment(bot, case.id)
        assert (row.state, row.round, row.outcome, row.note, row.stage, row.due) == (
            "received",
            1,
            None,
            "请拆除附属设施后再报告。",
            "result",
            date(2027, 1, 22),
        )
        assert row.clock_started_at == datetime(2026, 12, 10, 10, 0, tzinfo=SHANGHAI)
        again = bot.last_with_buttons(li)
        assert "请拆除附属设施后再报告" in again["text"]
        assert (
            bot.shown("Report the result of enforcement by %(due)s.", due="2027年1月22日（周五）")
            in again["text"]
        )
        assert bot.labels(again)[0] == bot.shown("📤 Report the result")

        # Reported again, in full; the court accepts it and closes the matter.
        bot.clock.set(datetime(2026, 12, 18, 16, 0, tzinfo=SHANGHAI))
        await bot.press(li, bot.shown("📤 Report the result"), message=again)
        await bot.press(li, bot.shown("Enforced in full"))
        await bot.say(li, "附属设施已于12月18日拆除完毕。")
        await bot.press(li, bot.shown("✔ Done"))
        assert (await assignment(bot, case.id)).outcome == "completed"
        await bot.press(zhao, bot.shown("✅ Accept and close"), message=bot.last_with_buttons(zhao))
        assert bot.alerts(zhao)[-1] == bot.shown("%(number)s closed.", number="裁执〔2026〕1号")
        row = await assignment(bot, case.id)
        assert (row.state, row.outcome, row.stage, row.due) == ("resolved", "completed", None, None)
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "handover")
        assert case.status == "resolved"
        assert bot.shown("Accepted and closed") in bot.texts(li)[-1]
        assert await actions(bot, case.id) == [
            "submitted",
            "confirm_receipt",
            "report_result",
            "ask_again",
            "report_result",
            "close",
        ]

        # The party's name never reached the group, and the group got only the post.
        assert [x for x in bot.texts(group) if PARTY in x] == []
        to_group = await rows(bot, t.outbox, t.outbox.c.chat_id == GROUP)
        assert {r.kind for r in to_group if r.key.startswith(f"case:{case.id}:")} == {"case_group"}


async def test_who_may_not_raise_or_act_is_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang = people["zhao"], people["li"], people["wang"]
        stranger = bot.user(STRANGER, "路人")
        case = await seed(bot)

        await bot.say(li, "/new")
        offered = bot.labels(bot.last_with_buttons(li))
        assert bot.shown(consultation.KIND.label) in offered
        assert bot.shown(handover.KIND.label) not in offered
        await bot.say(li, "/cancel")
        await bot.say(stranger, "/new")
        assert bot.last_text(stranger) == not_member_text(STRANGER)

        # Only the agency confirms receipt; only the court closes or asks again.
        for user in (wang, zhao, stranger):
            await bot.press(
                user, message=bot.fake.last_message_to(user), data=f"v:confirm_receipt:{case.id}"
            )
            assert bot.alerts(user)[-1] == bot.shown(REFUSED), user
        for code in ("close", "ask_again"):
            await bot.press(li, message=bot.last_with_buttons(li), data=f"v:{code}:{case.id}")
            assert bot.alerts(li)[-1] == bot.shown(REFUSED)
        row = await assignment(bot, case.id)
        assert (row.state, row.acted_by, row.answers) == ("submitted", None, {})
        assert await actions(bot, case.id) == ["submitted"]

        # Outsiders see nothing of it, the party least of all (it is declared personal: no
        # message to the group may show it).
        assert handover.PARTY.personal
        await bot.say(wang, f"/case {case.number}")
        assert bot.shown("You cannot see this matter.") in bot.last_text(wang)
        for outsider in (wang, stranger):
            seen = all_seen(bot, outsider)
            assert PARTY not in seen and WHAT not in seen and RULING not in seen


async def test_configured_deadlines_an_overdue_receipt_and_a_paused_clock(
    tmp_path: Path, db_url: str
) -> None:
    text = (ROOT / "committee.example.toml").read_text("utf-8")
    text = text.replace(
        "[deadlines.handover]\nreceipt_working_days = 3\nresult_working_days = 30\n",
        "[deadlines.handover]\nreceipt_working_days = 2\nresult_working_days = 10\n",
    )
    assert "receipt_working_days = 2" in text
    (tmp_path / "committee.toml").write_text(text, "utf-8")
    committee = dataclasses.replace(
        load_committee(tmp_path / "committee.toml"), admins=frozenset({ADMIN_ID})
    )
    assert committee.schedule.deadlines["handover"] == {"receipt": 2, "result": 10}
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)
        case = await seed(bot)
        row = await assignment(bot, case.id)
        # Raised Wednesday 25 November: receipt by Friday 27, the result by Wednesday 9 December.
        assert (row.stage, row.due) == ("receipt", date(2026, 11, 27))
        assert row.dues == {"receipt": "2026-11-27", "result": "2026-12-09"}

        # Monday 30 November: receipt is one working day late; the group hears of it, without
        # the party's name.
        await bot.tick(datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI))
        (overdue,) = [x for x in alert_entries(bot, group, "🔴") if case.number in x]
        assert f"{bot.shown('To act')}：{NR}\n" in overdue and PARTY not in overdue
        assert "：2026年11月27日（周五） · 已逾期1个工作日" in overdue
        assert [x for x in alert_entries(bot, li, "🔴") if case.number in x]

        # Received late; the agency needs the administrative decision and asks the court.
        bot.clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
        await bot.press(li, bot.shown("📥 Confirm receipt"), message=bot.last_with_buttons(li))
        assert (await assignment(bot, case.id)).due == date(2026, 12, 9)
        await bot.say(li, f"/case {case.number}")
        await bot.press(li, bot.shown("❓ Ask for more"))
        await bot.say(li, "请提供被申请执行的行政决定书副本。")
        row = await assignment(bot, case.id)
        assert (row.paused_since, row.due) == (date(2026, 11, 30), None)
        asked = bot.last_with_buttons(zhao)
        assert "行政决定书副本" in asked["text"]

        # Two working days later the court answers: the deadline moves by two.
        bot.clock.set(datetime(2026, 12, 2, 15, 0, tzinfo=SHANGHAI))
        await bot.press(zhao, bot.shown("📨 Answer the request"), message=asked)
        await bot.say(zhao, "已附行政决定书。")
        await bot.send_document(zhao, "行政决定书.pdf", 80_000)
        await bot.press(zhao, bot.shown("✔ Done"))
        row = await assignment(bot, case.id)
        assert (row.paused_since, row.paused_days, row.stage, row.due) == (
            None,
            2,
            "result",
            date(2026, 12, 11),
        )
        assert "已附行政决定书" in bot.texts(li)[-1]

        # The court withdraws it (the party complied); the office sees it closed.
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, bot.shown("✖ Withdraw"))
        await bot.say(zhao, "被执行人已自行履行。")
        row = await assignment(bot, case.id)
        assert (row.state, row.due, row.note) == ("withdrawn", None, "被执行人已自行履行。")
        assert await actions(bot, case.id) == [
            "submitted",
            "confirm_receipt",
            "request_info",
            "provide_info",
            "withdraw",
        ]
        assert [x for x in bot.texts(group) if PARTY in x] == []
