"""/status: the office sees the bot's health in chat, with the figures the database holds;
nobody else sees it."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.domain.workdays import CalendarOverrides, WorkingCalendar, YearSchedule
from bot.health import check, version
from bot.storage.db import schema_head
from tests.flows import LI, ZHAO, admin, member, seed_case
from tests.house_style import english_slips, slips
from tests.scenario import Harness, running_bot


def path_of(db_url: str) -> Path:
    return Path(db_url.split("///", 1)[1])


def outbox(db_url: str, sql: str) -> int:
    with sqlite3.connect(path_of(db_url)) as conn:
        return int(conn.execute(f"select count(*) from outbox where {sql}").fetchone()[0])


def lines(bot: Harness, text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


async def test_the_office_sees_the_figures_the_database_holds(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/status")
        before_tick = bot.last_text(office)
        assert before_tick.startswith(bot.shown("Bot status"))
        assert "⚠ " + bot.shown("Needs attention") in before_tick
        assert f"{bot.shown('Last tick')}：{bot.shown('never')}" in before_tick

        await bot.tick()
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        # A matter's notice to the court is queued; then the bot stops ticking for 11 minutes.
        case = await seed_case(bot, LI, "李明", "林地权属争议")
        bot.clock.set(bot.clock.now() + timedelta(minutes=11))
        await bot.say(office, "/status")
        text = bot.last_text(office)

        health = check(path_of(db_url), now=bot.clock.now())
        due = outbox(db_url, "status in ('pending','retry','sending')")
        assert health.due == due >= 1 and not health.healthy
        shown = lines(bot, text)
        assert shown[1] == "⚠ " + bot.shown("Needs attention")
        assert shown[2].startswith(bot.shown("Last tick") + "：2026年11月25日（周三）10:0")
        assert shown[2].endswith("（11分钟前）")
        assert shown[3] == (f"待发消息：{due}条待发送，0条等待重试，24小时内0条发送失败")
        assert shown[4] == f"最早待发消息：已等待{health.oldest_due_age_s // 60}分钟"
        assert "⚠ 定时检查已11分钟未运行：提醒、督办和周报均未发出。" in shown
        assert any(line.startswith("⚠ 有消息到期已达") for line in shown)
        assert f"版本：{version()}" in shown
        assert f"数据库结构版本：{schema_head()}" in shown
        assert "接收更新：长轮询" in shown
        # The example committee configures no year; the library knows 2026's holidays.
        assert "工作日日历：节假日安排已知至2026年" in shown
        assert not any(case.number in t for t in bot.fake.texts_to(zhao))
        assert slips(text) == [] and slips(before_tick) == []

        # Ticking again delivers the backlog: healthy, nothing due.
        await bot.tick(bot.clock.now())
        await bot.say(office, "/status")
        healthy = lines(bot, bot.last_text(office))
        assert healthy[1] == "✅ 运行正常"
        assert healthy[3] == "待发消息：0条待发送，0条等待重试，24小时内0条发送失败"
        assert outbox(db_url, "status in ('pending','retry','sending')") == 0
        assert not any(line.startswith("⚠") for line in healthy)


async def test_status_in_english(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/lang")
        await bot.press(office, "English")
        await bot.tick()
        await bot.say(office, "/status")
        text = bot.last_text(office)
        assert text.startswith("Bot status\n✅ Working normally\n")
        assert "Last tick: " in text and " (0 s ago)" in text
        assert "Outbox: 0 due, 0 waiting to retry, 0 failed in 24 h" in text
        assert "Schema revision: " + schema_head() in text
        assert "Working-day calendar: holidays known through 2026" in text
        assert "Updates: by long polling" in text
        assert english_slips(text) == []


async def test_others_are_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.tick()
        before = len(bot.texts(li))
        await bot.say(li, "/status")
        refusal = bot.app.bot_data["runtime"].texts.render("zh_CN", "error", code="admin_only")
        assert bot.new_texts(li, before) == [refusal]
        stranger = bot.user(9001, "路人")
        await bot.say(stranger, "/status")
        assert bot.last_text(stranger) == refusal
        assert not any(bot.shown("Bot status") in t for t in bot.texts(li) + bot.texts(stranger))


def test_calendar_coverage_is_the_last_year_known_in_a_row() -> None:
    def schedule(year: int, official: bool = True) -> YearSchedule:
        return YearSchedule(year, frozenset({date(year, 1, 1)}), frozenset(), official)

    library = WorkingCalendar(CalendarOverrides())
    assert library.known_through(date(2026, 11, 30)) == 2026
    assert library.known_through(date(2027, 1, 4)) is None  # the library only estimates 2027
    configured = WorkingCalendar(CalendarOverrides({2027: schedule(2027), 2028: schedule(2028)}))
    assert configured.known_through(date(2026, 11, 30)) == 2028
    provisional = WorkingCalendar(CalendarOverrides({2027: schedule(2027, official=False)}))
    assert provisional.known_through(date(2026, 11, 30)) == 2026
    assert (
        WorkingCalendar(CalendarOverrides(), library=False).known_through(date(2026, 1, 1)) is None
    )
