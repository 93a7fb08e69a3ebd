"""Deadline alerts grouped for office hours: one morning summary per recipient and working
day, 督办 on its own but only in office hours, nothing in the quiet hours, and the weekly
digest on working days. Everything runs on the manual clock, as the JobQueue would run it."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.config import parse_calendar
from bot.domain import alerts
from bot.domain.committee import Committee, GroupDetail, Schedule
from bot.domain.models import Case, Role
from bot.domain.workdays import WorkingCalendar
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.flows import GROUP, LI, SUN, ZHAO, bind_group, member, seed_case
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


COURT = "延边州中级人民法院"


def at(day: str, hh: int = 9, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hh, minute=mm, second=ss, tzinfo=SHANGHAI)


async def outbox_rows(bot: Harness, kind: str) -> dict[str, tuple[str, datetime, str | None]]:
    """key → (status, not-before time (local), last error) of one kind's rows."""
    async with bot.svc.db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    t.outbox.c.key,
                    t.outbox.c.status,
                    t.outbox.c.next_attempt_at,
                    t.outbox.c.last_error,
                ).where(t.outbox.c.kind == kind)
            )
        ).all()
    return {r.key: (r.status, r.next_attempt_at.astimezone(SHANGHAI), r.last_error) for r in rows}


def received(bot: Harness, chat: object, skip: int) -> list[tuple[datetime, str]]:
    """(local time, text) of what the bot sent the chat after its first ``skip`` messages."""
    return [
        (datetime.fromtimestamp(m["date"], SHANGHAI), str(m.get("text", "")))
        for m in bot.fake.messages_to(chat)[skip:]  # type: ignore[arg-type]
    ]


async def seed_dozen(bot: Harness) -> list[Case]:
    """A dozen referrals to one court, raised on Wednesday 18 November 2026: acknowledgement
    due on Monday the 23rd (Thu, Fri, Mon), overdue from Tuesday the 24th."""
    bot.clock.set(at("2026-11-18", 10))
    return [
        await seed_case(bot, LI, "李明", f"逾期事项{i}", kind="referral", addressee="YB-IPC")
        for i in range(12)
    ]


async def test_a_week_of_a_dozen_overdue_matters_is_one_summary_a_day(
    committee: Committee, db_url: str
) -> None:
    # Before: a clerk got 36 messages in this week and the group 25 (one per matter and
    # threshold, from 00:00:10). Now: one summary per working day, one 督办 message on the
    # day a round begins, and the group's digest.
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        sun = await member(bot, SUN, "孙法官", "YB-IPC", Role.COURT_STAFF)
        cases = await seed_dozen(bot)
        await bot.tick()
        before = {chat: len(bot.texts(chat)) for chat in (ZHAO, SUN, GROUP)}
        moment = at("2026-11-23", 0, 0, 10)
        while moment < at("2026-11-30", 0):
            await bot.tick(moment)
            if moment == at("2026-11-26", 7, 30, 10):
                # Thursday, 3 working days late: a 督办 round began at midnight, held back.
                status, not_before, _ = (await outbox_rows(bot, "escalation"))[
                    f"escalation:2026-11-26:{GROUP}"
                ]
                assert (status, not_before) == ("pending", at("2026-11-26", 8))
            moment += timedelta(minutes=30)

        for clerk in (zhao, sun):
            got = received(bot, clerk, before[clerk.id])
            assert all(8 <= when.hour < 20 for when, _ in got), got
            summaries = [(w, x) for w, x in got if x.startswith("📋")]
            days = [w.date() for w, _ in summaries]
            assert days == [date(2026, 11, d) for d in (23, 24, 25, 26, 27)]
            assert all((w.hour, w.minute) == (8, 30) for w, _ in summaries)
            escalations = [(w, x) for w, x in got if x.startswith("🚨")]
            assert [w for w, _ in escalations] == [at("2026-11-26", 8, 0, 10)]
            assert len(got) == 6  # was 36
            monday, tuesday = summaries[0][1], summaries[1][1]
            assert all(case.number in monday and case.number in tuesday for case in cases)
            assert monday.count("⏰") == 12 and "今日到期" in monday
            assert tuesday.count("🔴") == 12 and tuesday.count("已逾期1个工作日") == 12
            assert all(case.number in escalations[0][1] for case in cases)

        # Many matters: a link to each of the first six, two a row.
        last = [m for m in bot.fake.messages_to(zhao) if m["text"].startswith("📋")][-1]
        assert [[label for label, _ in row] for row in bot.fake.buttons(last)] == [
            [cases[i].number, cases[i + 1].number] for i in (0, 2, 4)
        ]

        got = received(bot, group, before[GROUP])
        assert all(8 <= when.hour < 20 for when, _ in got), got
        summaries = [w.date() for w, x in got if x.startswith("📋")]
        assert summaries == [date(2026, 11, d) for d in (24, 25, 26, 27)]  # Monday: none late
        assert [w for w, x in got if x.startswith("🚨")] == [at("2026-11-26", 8, 0, 10)]
        assert len([x for _, x in got if "周报" in x]) == 1
        assert len(got) == 6  # was 25

        # The database holds one summary per recipient and working day, each sent once.
        rows = await outbox_rows(bot, "deadline_summary")
        for chat in (ZHAO, SUN):
            assert {k for k in rows if k.endswith(f":{chat}")} == {
                f"summary:2026-11-{d}:{chat}" for d in (23, 24, 25, 26, 27)
            }
        assert {k for k in rows if k.endswith(f":{GROUP}")} == {
            f"summary:2026-11-{d}:{GROUP}" for d in (24, 25, 26, 27)
        }
        assert {status for status, _, _ in rows.values()} == {"sent"}
        assert await outbox_rows(bot, "deadline") == {}

        # The next Monday's digest lists the late matters themselves.
        await bot.tick(at("2026-11-30", 9))
        (digest,) = [x for x in bot.texts(group) if "周报" in x and "2026年11月23日" in x]
        for case in cases:
            assert f"{case.number}「{case.title}」：{COURT} · 已逾期5个工作日" in digest


async def test_what_each_audience_sees_in_a_summary(committee: Committee, db_url: str) -> None:
    committee = dataclasses.replace(committee, group_detail=GroupDetail.MINIMAL)
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.clock.set(at("2026-11-25", 10))  # Wednesday
        case = await seed_case(
            bot, LI, "李明", "征收补偿争议", kind="referral", addressee="CHIBEI-CENTER"
        )
        await bot.tick(at("2026-12-01", 8, 30))  # Tuesday: 1 working day late
        (private,) = [x for x in bot.texts(zhao) if x.startswith("📋")]
        lines = private.splitlines()
        # The title stands on its own line; the court behind the center must act.
        assert f"🔴 {case.number}「征收补偿争议」" in lines
        assert "提请：长白山管委会自然资源局 · 2026年11月25日（周三） · 一般" in lines
        assert f"承办：{COURT}（池北行政争议协调化解中心）" in lines
        assert "期限：2026年11月30日（周一） · 已逾期1个工作日" in lines
        # One matter: its own buttons, to act from the summary.
        (message,) = [m for m in bot.fake.messages_to(zhao) if m["text"].startswith("📋")]
        assert bot.shown("✅ Acknowledge") in bot.labels(message)
        (posted_message,) = [m for m in bot.fake.messages_to(group) if m["text"].startswith("📋")]
        ((label, link),) = [b for row in bot.fake.buttons(posted_message) for b in row]
        assert label == case.number and link.endswith(f"?start=c_{case.id}")
        (posted,) = [x for x in bot.texts(group) if x.startswith("📋")]
        assert case.number in posted and "已逾期1个工作日" in posted
        assert "征收补偿争议" not in posted and "自然资源局" not in posted
        assert COURT not in posted and "池北" not in posted
        # The digest lists it as the group may see it: number and kind, how late.
        await bot.tick(at("2026-12-07", 9))
        (digest,) = [x for x in bot.texts(group) if "周报" in x]
        assert f"• {case.number}（行政争议协调化解） · 已逾期5个工作日" in digest.splitlines()
        assert "征收补偿争议" not in digest and COURT not in digest and "池北" not in digest


async def test_a_summary_queued_before_a_restart_goes_out_once(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await seed_dozen(bot)
        bot.clock.set(at("2026-11-24", 8, 30))
        assert await bot.svc.scan_deadlines() == 1  # queued, not yet sent
        assert await bot.svc.scan_deadlines() == 0
    async with running_bot(committee, db_url, clock=bot.clock, fake=bot.fake) as again:
        for minute in (31, 32, 45):
            await again.tick(at("2026-11-24", 8, minute))
        assert len([x for x in again.texts(zhao) if x.startswith("📋")]) == 1
        rows = await outbox_rows(again, "deadline_summary")
        assert [status for status, _, _ in rows.values()] == ["sent"]


async def test_nothing_at_night_and_a_day_off_waits_for_the_next_working_morning(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await seed_dozen(bot)
        # The bot was down on Thursday 26 November until 21:00: the 督办 round that began
        # that day is queued, but waits for Friday 08:00; Thursday's summary is not sent late.
        await bot.tick(at("2026-11-26", 21))
        status, not_before, _ = (await outbox_rows(bot, "escalation"))[
            f"escalation:2026-11-26:{ZHAO}"
        ]
        assert (status, not_before) == ("pending", at("2026-11-27", 8))
        await bot.tick(at("2026-11-27", 7, 59))
        assert not [x for x in bot.texts(zhao) + bot.texts(group) if x.startswith("🚨")]
        await bot.tick(at("2026-11-27", 8))
        assert len([x for x in bot.texts(zhao) if x.startswith("🚨")]) == 1
        assert len([x for x in bot.texts(group) if x.startswith("🚨")]) == 1
        assert not [x for x in bot.texts(zhao) if x.startswith("📋")]
        await bot.tick(at("2026-11-27", 8, 30))
        assert len([x for x in bot.texts(zhao) if x.startswith("📋")]) == 1
        # Saturday and Sunday: no summary; the next one is Monday's.
        for day in ("2026-11-28", "2026-11-29"):
            await bot.tick(at(day, 8, 30))
        assert len([x for x in bot.texts(zhao) if x.startswith("📋")]) == 1
        await bot.tick(at("2026-11-30", 8, 30))
        assert len([x for x in bot.texts(zhao) if x.startswith("📋")]) == 2
        assert len([x for x in bot.texts(zhao) if x.startswith("🚨")]) == 2  # 5 days late


async def test_a_matter_answered_after_the_summary_was_queued_is_left_out(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.clock.set(at("2026-11-25", 10))
        first = await seed_case(bot, LI, "李明", "事项一")
        second = await seed_case(bot, LI, "李明", "事项二")
        bot.clock.set(at("2026-11-27", 8, 30))
        await bot.svc.scan_deadlines()
        viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
        await bot.svc.acknowledge(viewer, first.id)
        await bot.tick()
        (summary,) = [x for x in bot.texts(zhao) if x.startswith("📋")]
        assert second.number in summary and first.number not in summary
        await bot.svc.acknowledge(viewer, second.id)
        bot.clock.set(at("2026-11-30", 8, 30))
        assert await bot.svc.scan_deadlines() == 0  # nothing due soon or late any more


# ---------------------------------------------------------------------------- digest


async def test_a_holiday_monday_digest_comes_on_tuesday_and_says_so(
    committee: Committee, db_url: str
) -> None:
    # 2026: Qingming, Saturday 4 – Monday 6 April off; Tuesday 7 April a working day.
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.tick(at("2026-03-30", 10))
        bot.clock.set(at("2026-04-01", 10))
        await seed_case(bot, LI, "李明", "清明前事项")
        for moment in (at("2026-04-06", 9), at("2026-04-06", 15), at("2026-04-07", 8, 59)):
            await bot.tick(moment)
        assert not [x for x in bot.texts(group) if "周报" in x]
        await bot.tick(at("2026-04-07", 9))
        (digest,) = [x for x in bot.texts(group) if "周报" in x]
        assert "本周报本应于2026年4月6日（周一）发送，因当日非工作日，顺延至今日。" in digest
        assert "迟发" not in digest
        assert (await outbox_rows(bot, "digest"))["digest:2026-04-06"][0] == "sent"


async def test_no_digest_when_there_is_nothing_to_report(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await bot.tick(at("2026-11-25", 10))
        await bot.tick(at("2026-11-30", 9))
        assert not [x for x in bot.texts(group) if "周报" in x]
        status, _, error = (await outbox_rows(bot, "digest"))["digest:2026-11-30"]
        assert (status, error) == ("failed", "skipped: nothing to report this week")


async def test_a_digest_found_late_in_the_quiet_hours_waits_for_the_morning(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.tick(at("2026-11-23", 10))
        bot.clock.set(at("2026-11-25", 10))
        await seed_case(bot, LI, "李明", "本周事项")
        # Down from Monday 30 November 08:00 until 21:00.
        await bot.tick(at("2026-11-30", 21))
        assert not [x for x in bot.texts(group) if "周报" in x]
        status, not_before, _ = (await outbox_rows(bot, "digest"))["digest:2026-11-30"]
        assert (status, not_before) == ("pending", at("2026-12-01", 8))
        await bot.tick(at("2026-12-01", 8))
        (digest,) = [x for x in bot.texts(group) if "周报" in x]
        assert "本周报迟发，本应于2026年11月30日（周一）09:00发送。" in digest


# ---------------------------------------------------------------------------- the rules


def test_office_hours_and_quiet_hours() -> None:
    calendar = WorkingCalendar(parse_calendar(None, "calendar"))
    night = Schedule()  # 20:00 – 08:00
    assert alerts.office_moment(at("2026-11-27", 7, 59), calendar, night) == at("2026-11-27", 8)
    assert alerts.office_moment(at("2026-11-27", 12), calendar, night) == at("2026-11-27", 12)
    # Friday evening: Monday morning; National Day week: the first working day after it.
    assert alerts.office_moment(at("2026-11-27", 20), calendar, night) == at("2026-11-30", 8)
    assert alerts.office_moment(at("2026-10-01", 10), calendar, night) == at("2026-10-08", 8)
    lunch = Schedule(quiet_start=time(12), quiet_end=time(14))  # a window inside the day
    assert alerts.office_moment(at("2026-11-27", 12, 30), calendar, lunch) == at("2026-11-27", 14)
    assert alerts.office_moment(at("2026-11-27", 23), calendar, lunch) == at("2026-11-27", 23)
    assert alerts.office_moment(at("2026-11-28", 13), calendar, lunch) == at("2026-11-30", 0)
    never = Schedule(quiet_start=time(20), quiet_end=time(20))
    assert not alerts.is_quiet(time(3), never)
    assert alerts.summary_due(at("2026-11-27", 8, 30), calendar, night)
    assert not alerts.summary_due(at("2026-11-27", 8, 29), calendar, night)
    assert not alerts.summary_due(at("2026-11-27", 20), calendar, night)
    assert not alerts.summary_due(at("2026-11-28", 10), calendar, night)  # Saturday
    # Digests: Qingming Monday moves to Tuesday.
    assert alerts.digest_moment(at("2026-04-06", 9), calendar, night) == at("2026-04-07", 9)
