"""Timed behaviour with a controlled clock: deadlines, alerts, the weekly digest, delivery.

Nothing sleeps: each test moves ``bot.clock`` and runs the tick the JobQueue would run.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import parse_calendar
from bot.domain.committee import Committee
from bot.domain.mechanisms.referral import KIND as REFERRAL
from bot.domain.models import Role
from bot.domain.workdays import WorkingCalendar
from bot.services.scheduled import LAST_TICK
from bot.storage import schema as t
from handlers.jobs import JOB_KWARGS
from tests.conftest import SHANGHAI
from tests.flows import (
    GROUP,
    LI,
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
from tests.test_once import WriteCounter

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


@pytest.fixture
def committee(committee: Committee) -> Committee:
    """The example committee with a 2027 schedule (test data, not the official one), so the
    office is not also told about estimated holidays while these tests watch the outbox."""
    calendar = parse_calendar(
        {
            "2027": {
                "holidays": ["2027-01-01..2027-01-03", "2027-02-06..2027-02-12"],
                "workdays": ["2027-02-13"],
            }
        },
        "calendar",
    )
    return dataclasses.replace(committee, calendar=calendar)


def at(day: str, hh: int = 9, mm: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), SHANGHAI).replace(
        hour=hh, minute=mm
    )


async def outbox(bot: Harness) -> dict[str, str]:
    async with bot.svc.db.read() as conn:
        rows = (await conn.execute(select(t.outbox.c.key, t.outbox.c.status))).all()
    return {key: status for key, status in rows}


def texts_with(bot: Harness, chat: object, needle: str) -> list[str]:
    return [text for text in bot.texts(chat) if needle in text]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- deadlines


def test_deadlines_across_national_day_and_a_make_up_saturday(committee: Committee) -> None:
    cal = WorkingCalendar(parse_calendar(None, "calendar"))
    # 2026: Oct 1-7 off, Saturday Oct 10 is a make-up working day (调休).
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.is_working_day(date(2026, 10, 10)) and not cal.is_working_day(date(2026, 10, 3))
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 12)) == 4


async def test_deadlines_stored_when_raised(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        bot.clock.set(at("2026-09-30", 16))
        case = await seed_case(bot, LI, "李明", "国庆前提交", kind="referral", addressee="YB-IPC")
        assert case.ack_due == date(2026, 10, 10)  # 3 working days, across the holiday week
        expected_reply = WorkingCalendar(parse_calendar(None, "c")).add_working_days(
            date(2026, 9, 30), REFERRAL.reply_working_days
        )
        assert case.reply_due == expected_reply


async def test_year_boundary_uses_the_committee_calendar(committee: Committee, db_url: str) -> None:
    calendar = parse_calendar(
        {"2027": {"holidays": ["2027-01-01..2027-01-03"], "workdays": []}}, "calendar"
    )
    committee = dataclasses.replace(committee, calendar=calendar)
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        bot.clock.set(at("2026-12-30", 11))
        case = await seed_case(bot, LI, "李明", "跨年事项")
        # Dec 31 (1), Jan 1-3 off, Jan 4 (2), Jan 5 (3)
        assert case.ack_due == date(2027, 1, 5)


async def test_a_requested_reply_date_wins_when_earlier(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        viewer = await bot.svc.viewer(1001, "Office", None)
        values = {
            "title": "t",
            "description": "d",
            "addressee": "YB-IPC",
            "urgency": "normal",
            "reply_by": "2026-11-27",
        }
        outcome = await bot.svc.submit(viewer, "consultation", values, "tok")
        assert outcome.case.reply_due == date(2026, 11, 27)
        assert outcome.case.ack_due == date(2026, 11, 30)


# ---------------------------------------------------------------------------- alerts


async def test_due_soon_overdue_and_escalation_in_the_morning_summaries(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.clock.set(at("2026-11-25", 10))  # Wednesday
        case = await seed_case(
            bot, LI, "李明", "征收补偿争议", kind="referral", addressee="CHIBEI-CENTER"
        )
        assert case.ack_due == date(2026, 11, 30)  # Thu, Fri, Mon
        await bot.tick()
        assert len(texts_with(bot, zhao, case.number)) == 1  # the new-matter notice

        await bot.tick(at("2026-11-26"))  # two working days ahead: nothing yet
        assert alert_entries(bot, zhao) == []
        await bot.tick(at("2026-11-27"))  # one working day ahead
        (soon,) = alert_entries(bot, zhao)
        assert soon.startswith(f"⏰ {case.number}「征收补偿争议」\n")
        assert "期限：2026年11月30日（周一） · 即将到期" in soon
        assert texts_with(bot, group, case.number) == [bot.texts(group)[-1]]  # only the post
        for day in ("2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30"):
            await bot.tick(at(day, 15))
        # Friday's summary, none at the weekend, Monday's (the due day).
        assert len(alert_entries(bot, zhao, "⏰")) == 2
        assert alert_entries(bot, group) == []  # Sat/Sun are no working days late

        await bot.tick(at("2026-12-01"))
        (overdue,) = alert_entries(bot, group, "🔴")
        # The title on a line of its own; the court behind the center must act.
        assert f"🔴 {case.number}「征收补偿争议」\n" in overdue
        assert "承办：延边州中级人民法院（池北行政争议协调化解中心）\n" in overdue
        assert "已逾期1个工作日" in overdue
        assert len(alert_entries(bot, zhao, "🔴")) == 1
        await bot.tick(at("2026-12-01", 17))
        assert len(alert_entries(bot, group, "🔴")) == 1

        def escalations(chat: object) -> list[str]:
            return [x for x in bot.texts(chat) if x.startswith("🚨")]  # type: ignore[arg-type]

        await bot.tick(at("2026-12-02"))  # 2 working days late: not yet
        assert escalations(group) == []
        await bot.tick(at("2026-12-03"))  # 2 working days after the overdue alert
        assert len(escalations(group)) == 1 and "已逾期3个工作日" in escalations(group)[0]
        await bot.tick(at("2026-12-04"))
        assert len(escalations(group)) == 1
        await bot.tick(at("2026-12-07"))  # Monday, 5 working days late: the second
        assert len(escalations(group)) == 2 and len(escalations(zhao)) == 2

        keys = await deadline_keys(bot)
        assert f"case:{case.id}:ack:due_soon:{ZHAO}" in keys
        assert f"case:{case.id}:ack:overdue:{GROUP}" in keys
        assert f"case:{case.id}:ack:escalate:2:{ZHAO}" in keys
        assert f"case:{case.id}:ack:due_soon:{GROUP}" not in keys
        assert (await outbox(bot))[f"escalation:2026-12-07:{ZHAO}"] == "sent"

        # Acknowledged: the acknowledgement alerts stop.
        await bot.svc.acknowledge(await bot.svc.viewer(ZHAO, "赵法官", None), case.id)
        before = len(bot.texts(group))
        for day in ("2026-12-07", "2026-12-08", "2026-12-09"):
            await bot.tick(at(day))
        assert [x for x in bot.texts(group)[before:] if x.startswith(("📋", "🚨"))] == []


async def test_alert_queued_before_the_matter_moved_on_is_dropped(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.clock.set(at("2026-11-25", 10))
        case = await seed_case(bot, LI, "李明", "事项")
        bot.clock.set(at("2026-11-27"))
        await bot.svc.scan_deadlines()  # queued, not yet delivered
        await bot.svc.acknowledge(await bot.svc.viewer(ZHAO, "赵法官", None), case.id)
        await bot.tick()
        assert alert_entries(bot, zhao) == []
        assert (await outbox(bot))[f"summary:2026-11-27:{ZHAO}"] == "failed"


# ---------------------------------------------------------------------------- digest


async def seed_week(bot: Harness) -> None:
    await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    zhao = await bot.svc.viewer(ZHAO, "赵法官", None)
    bot.clock.set(at("2026-11-17", 10))  # the week before: not counted as raised
    old = await seed_case(bot, LI, "李明", "上周事项")
    for i, day in enumerate(("2026-11-23", "2026-11-24", "2026-11-25")):
        bot.clock.set(at(day, 10))
        case = await seed_case(bot, LI, "李明", f"本周事项{i}")
        if i < 2:
            bot.clock.advance(timedelta(hours=2 + 4 * i))
            await bot.svc.acknowledge(zhao, case.id)
    bot.clock.set(at("2026-11-26", 10))
    await bot.svc.return_case(zhao, old.id, "不属于受理范围")


async def test_weekly_digest_once_even_across_restart(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await seed_week(bot)
        await bot.tick(at("2026-11-30", 8, 59))
        assert texts_with(bot, group, "周报") == []
        await bot.tick(at("2026-11-30", 9, 0))
        digests = texts_with(bot, group, "周报")
        assert len(digests) == 1
        text = digests[0]
        assert "本周提请：3" in text or "本周提请：3" in text
        assert "已受理：2" in text or "已受理：2" in text
        assert "已退回：1" in text or "已退回：1" in text
        assert "延边州中级人民法院：4小时" in text
        assert "迟发" not in text and "顺延" not in text
        # The week reported runs Monday to Sunday; the next one starts where it ends.
        assert "2026年11月23日（周一）至2026年11月29日（周日）" in text
        await bot.tick(at("2026-11-30", 9, 1))
        assert len(texts_with(bot, group, "周报")) == 1
    async with running_bot(committee, db_url, fake=bot.fake) as again:
        await again.tick(at("2026-11-30", 10))
        assert len(texts_with(again, group, "周报")) == 1
        await again.tick(at("2026-12-07", 9))
        assert len(texts_with(again, group, "周报")) == 2
        assert (
            "2026年11月30日（周一）至2026年12月6日（周日）" in texts_with(again, group, "周报")[1]
        )


def _listed(text: str, header: str, end: str) -> list[str]:
    """The matters' numbers a digest lists between its ``header`` line and its ``end`` line."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header))
    last = next(i for i, line in enumerate(lines) if i > first and line.startswith(end))
    return [
        re.match(r"• ([^「（：\s]+)", line)[1] for line in lines[first:last] if line[:2] == "• "
    ]  # type: ignore[index]


async def test_a_busy_weeks_digest_lists_the_first_and_counts_every_matter(
    committee: Committee, db_url: str
) -> None:
    """More raised (17) and overdue (24) matters than the digest lists: it counts them all,
    lists the first 15 raised in the order raised and the 20 latest overdue (latest first,
    then by number, three to a due day), and says how many more there are."""
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        for day in ("2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16"):
            for i in range(3):
                bot.clock.set(at(day, 10, 10 - i))  # each later in the day than the next
                await seed_case(bot, LI, "李明", f"逾期事项{i}")
        for day in ("2026-10-19", "2026-10-20", "2026-10-21"):
            bot.clock.set(at(day, 10))
            await seed_case(bot, LI, "李明", "逾期事项")
        bot.clock.set(at("2026-11-20", 10))
        await seed_case(bot, LI, "李明", "上周事项")
        for i in range(17):
            bot.clock.set(at("2026-11-23", 8) + timedelta(hours=9 * i))
            await seed_case(bot, LI, "李明", f"本周事项{i}")
        await bot.tick(at("2026-11-30", 9, 0))
        (text,) = texts_with(bot, group, "周报")
        start, end = at("2026-11-23", 0), at("2026-11-30", 0)
        async with bot.svc.db.read() as conn:
            raised = (
                (
                    await conn.execute(
                        select(t.cases.c.number)
                        .where(t.cases.c.created_at >= start, t.cases.c.created_at < end)
                        .order_by(t.cases.c.created_at, t.cases.c.number)
                    )
                )
                .scalars()
                .all()
            )
            dues = (
                await conn.execute(
                    select(t.cases.c.number, t.assignments.c.due)
                    .join(t.assignments, t.assignments.c.case_id == t.cases.c.id)
                    .where(t.assignments.c.due.is_not(None))
                )
            ).all()
        today = date(2026, 11, 30)
        late = sorted(
            (-days, number)
            for number, due in dues
            if (days := bot.svc.calendar.working_days_between(due, today)) >= 1
        )
        assert len(raised) == 17 and len(late) == 24
        assert late[0][0] == late[2][0] != late[3][0]  # three matters a due day: by number
        assert "本周提请：17" in text and "……另有2件" in text
        assert _listed(text, "本周提请", "已受理") == raised[:15]
        assert "当前逾期（24）" in text and "……另有4件" in text
        assert _listed(text, "当前逾期", "受理用时") == [n for _, n in late[:20]]
        # The service hands over what is listed and the counts, not every matter.
        data = await bot.svc.digest(start, end)
        assert (len(data.raised), data.raised_count) == (15, 17)
        assert (len(data.overdue), data.overdue_count) == (20, 24)


async def test_digest_sent_late_once_when_the_bot_was_down(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await seed_week(bot)
        await bot.tick(at("2026-11-30", 8))
    # Down from 08:00 to 11:30 on Monday.
    async with running_bot(committee, db_url, fake=bot.fake) as again:
        await again.tick(at("2026-11-30", 11, 30))
        await again.tick(at("2026-11-30", 11, 31))
        (digest,) = texts_with(again, group, "周报")
        assert "本周报迟发，本应于2026年11月30日（周一）09:00发送。" in digest


async def test_digest_on_demand_for_the_office_only(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await seed_week(bot)
        bot.clock.set(at("2026-11-27", 16))
        await bot.say(admin(bot), "/digest")
        assert "府院联动周报" in bot.last_text(admin(bot))
        li = bot.user(LI, "李明")
        await bot.say(li, "/digest")
        assert "办公室" in bot.last_text(li) and "周报" not in bot.last_text(li)


# ---------------------------------------------------------------------------- delivery


async def test_outbox_retries_network_errors_and_429(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        bot.allowed_errors |= {429, 502}
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        before = len(bot.texts(zhao))
        bot.fake.inject("sendMessage", status=502, description="Bad Gateway", times=2)
        case = await seed_case(bot, LI, "李明", "重试事项")
        await bot.tick()
        assert len(bot.texts(zhao)) == before
        key = f"case:{case.id}:new:{ZHAO}"
        assert (await outbox(bot))[key] == "retry"
        bot.clock.advance(timedelta(seconds=2))
        await bot.tick()  # second 502
        assert (await outbox(bot))[key] == "retry"
        bot.clock.advance(timedelta(seconds=4))
        await bot.tick()
        assert len(bot.texts(zhao)) == before + 1
        assert (await outbox(bot))[key] == "sent"

        bot.fake.inject(
            "sendMessage",
            status=429,
            description="Too Many Requests: retry after 30",
            retry_after=30,
        )
        second = await seed_case(bot, LI, "李明", "限流事项")
        await bot.tick()
        bot.clock.advance(timedelta(seconds=29))
        await bot.tick()
        assert (await outbox(bot))[f"case:{second.id}:new:{ZHAO}"] == "retry"
        bot.clock.advance(timedelta(seconds=1))
        await bot.tick()
        assert (await outbox(bot))[f"case:{second.id}:new:{ZHAO}"] == "sent"
        assert len(texts_with(bot, zhao, second.number)) == 1


async def test_an_ambiguous_timeout_is_resent_with_a_note(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.fake.inject_timeout("sendMessage", deliver=True)  # delivered, but we never knew
        case = await seed_case(bot, LI, "李明", "超时事项")
        await bot.tick()
        bot.clock.advance(timedelta(seconds=5))
        await bot.tick()
        copies = texts_with(bot, zhao, case.number)
        assert len(copies) == 2
        assert "重新发送" not in copies[0] and copies[1].startswith("因网络问题重新发送")


async def test_a_blocked_recipient_is_reported_to_the_office(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.fake.block_bot(zhao)
        await bot.deliver()
        case = await seed_case(bot, LI, "李明", "被屏蔽")
        await bot.tick()
        bot.clock.advance(timedelta(hours=1))
        await bot.tick()
        keys = await outbox(bot)
        assert keys[f"case:{case.id}:new:{ZHAO}"] == "failed"
        report = bot.last_text(admin(bot))
        assert "无法送达" in report and str(ZHAO) in report
        calls = [
            c for c in bot.fake.calls_of("sendMessage") if str(c.params.get("chat_id")) == str(ZHAO)
        ]
        assert sum(1 for c in calls if not c.ok) == 1  # tried once, never again


async def test_jobs_are_scheduled_to_run_late_rather_than_never(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        assert bot.app.job_queue is not None
        jobs = {job.name: job for job in bot.app.job_queue.jobs()}
        assert set(jobs) >= {"tick", "deliver"}
        for job in jobs.values():
            assert job.job.misfire_grace_time is None
            assert job.job.coalesce is True
        assert JOB_KWARGS["misfire_grace_time"] is None


async def test_a_tick_with_nothing_to_do_writes_only_that_it_ran(
    committee: Committee, db_url: str
) -> None:
    """Once today's summaries, 督办 and this week's digest are queued, the ticks of the rest
    of the day find nothing to do: each writes only the record that it ran (/status reads
    it), not one write per kind of periodic work."""
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bind_group(bot)
        await bot.tick()
        queued = await rows(bot, t.outbox)
        counter = WriteCounter(bot)
        try:
            bot.clock.advance(timedelta(minutes=1))
            await bot.tick()
        finally:
            counter.close()
        assert counter.writes == 1
        assert await rows(bot, t.outbox) == queued
        (last,) = await rows(bot, t.settings, t.settings.c.key == LAST_TICK)
        assert datetime.fromisoformat(last.value) == bot.clock.now()
