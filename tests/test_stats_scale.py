"""/stats at scale: the database sums each addressee up (``Summary``: its answers' days,
found by the database) and the domain counts those plain rows. The figures must be the same
as counted from every step (``Tally.add``), on SQLite and on PostgreSQL; local days must be
right in a zone with daylight saving time too; and the queries must go through indexes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, literal, select, text

from bot.domain.committee import Committee
from bot.domain.periods import parse_period
from bot.domain.stats import Days, MatterLine, Scorecard, Tally
from bot.domain.workdays import CalendarOverrides, WorkingCalendar, YearSchedule
from bot.storage import stats as storage
from tests.conftest import SHANGHAI
from tests.flows import ADMIN_ID, LI, ZHAO
from tests.scenario import Harness, running_bot
from tests.test_stats import act, assignment_of, cast, raise_, seed

BERLIN = ZoneInfo("Europe/Berlin")


def test_working_days_by_ordinals_are_the_calendar_s() -> None:
    """A difference of ordinals is the calendar's count, for every pair of days around a
    holiday and a make-up working day, asked in any order (the anchor moves both ways)."""
    calendar = WorkingCalendar(
        CalendarOverrides(
            MappingProxyType(
                {
                    2026: YearSchedule(
                        2026,
                        frozenset(date(2026, 10, d) for d in range(1, 8)),
                        frozenset({date(2026, 10, 10)}),
                    )
                }
            )
        ),
        library=False,
    )
    days = Days(calendar)
    first = date(2026, 9, 20)
    span = [first + timedelta(days=i) for i in range(40)]
    order = span[20:] + span[:20][::-1]  # from the middle out, then backwards
    for a in order:
        for b in order:
            assert days.working_days_between(a, b) == calendar.working_days_between(a, b), (a, b)
    assert days.ordinal_of("2026-10-12") - days.ordinal_of("2026-09-30") == 4  # 8, 9, 10, 12


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # Berlin: UTC+1 until 29 March 2026 01:00 UTC, then UTC+2 until 25 October 01:00 UTC.
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "2026-03-29"),
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), "2026-03-29"),
        (datetime(2026, 6, 30, 22, 30, tzinfo=UTC), "2026-07-01"),  # 00:30 summer time
        (datetime(2026, 6, 30, 21, 30, tzinfo=UTC), "2026-06-30"),  # 23:30 summer time
        (datetime(2026, 12, 31, 22, 30, tzinfo=UTC), "2026-12-31"),  # 23:30 winter time
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "2027-01-01"),
    ],
)
def test_sqlite_finds_local_days_across_daylight_saving_time(moment: datetime, day: str) -> None:
    """SQLite knows no zones: the offsets the zone has over the period stand in for it."""
    local = storage.LocalDays(
        "sqlite", BERLIN, datetime(2026, 1, 1, tzinfo=BERLIN), datetime(2027, 1, 2, tzinfo=UTC)
    )
    assert [seconds for _, seconds in local.offsets] == [3600, 7200, 3600]
    stored = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.execute(select(local(literal(stored)))).scalar_one() == day
    assert moment.astimezone(BERLIN).date().isoformat() == day


def test_a_zone_without_daylight_saving_time_is_one_offset() -> None:
    local = storage.LocalDays(
        "sqlite",
        ZoneInfo("Asia/Shanghai"),
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert local.offsets == [(None, 8 * 3600)]


def test_a_summary_statement_is_built_once_and_run_with_each_month_s_bounds() -> None:
    """Building it cost more than reading a month's rows: a year's /stats builds it once.
    Equal kinds, offsets and addressees share it; another zone's offsets do not."""
    from bot.domain.mechanisms import default_registry
    from bot.domain.stats import kind_rules

    rules = kind_rules(default_registry())
    year = (datetime(2026, 1, 1, tzinfo=SHANGHAI), datetime(2027, 1, 1, tzinfo=SHANGHAI))
    local, again = (storage.LocalDays("sqlite", SHANGHAI, *year) for _ in range(2))
    berlin = storage.LocalDays("sqlite", BERLIN, *year)
    assert local == again and hash(local) == hash(again) and local != berlin
    built = storage._summary_statement
    assert built(tuple(rules), local, None) is built(tuple(rules), again, None)
    assert built(tuple(rules), local, None) is not built(tuple(rules), berlin, None)
    assert built(tuple(rules), local, ("YB-IPC",)) is not built(tuple(rules), local, None)
    dialect = create_engine("sqlite://").dialect
    months = [
        str(
            storage.summary_query(start, end, rules, local).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        for start, end in (year, (year[0], datetime(2026, 2, 1, tzinfo=SHANGHAI)))
    ]
    assert months[0] != months[1]
    assert "'2025-12-31 16:00:00.000000'" in months[0] and "'2026-12-31 16:00:00" in months[0]
    assert "'2026-01-31 16:00:00" in months[1]


async def same_figures(bot: Harness, words: str) -> Scorecard:
    """The figures and every page of 延边中院's drill-down for ``words``, from the summaries,
    checked against those counted from every step of every matter."""
    svc = bot.svc
    viewer = await svc.viewer(ADMIN_ID, "办公室管理员", None)
    period = parse_period(words, svc.today())
    calculator = svc.calculator()
    tally = Tally(calculator)
    every: list[MatterLine] = []
    async with svc.db.read() as conn:
        for part in period.parts():
            start, end = part.bounds(svc.tz)
            steps = (await storage.fetch(conn, start, end)).rows()
            tally.add(steps)
            every += calculator.matters_of("YB-IPC", steps)
    expected = tally.card(period)
    card = await svc.scorecard(period)
    assert card == expected and card.matters > 0, words
    every.sort(key=lambda m: (not m.late, m.case_id))
    for size in (1, 3, 10):
        for page in range(len(every) // size + 1):
            found = await svc.stats_matters(viewer, period, "YB-IPC", page, size)
            assert found.lines == tuple(every[page * size : (page + 1) * size]), (words, page)
            assert (found.total, found.late) == (len(every), sum(m.late for m in every))
    return card


@pytest.mark.postgres
async def test_the_summaries_count_as_the_steps_do(committee: Committee, db_url: str) -> None:
    """The hand-counted quarter, the quarter after it and the year; then matters at the
    edges: waiting on their due day (not yet late) and the day after (late), answered on the
    due day (on time) and after it (late), and one raised at 23:30 and acknowledged at 00:30
    local time (a working day, though the same day in UTC)."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        await seed(bot)
        for words in ("2026Q3", "2026-10-01 2026-12-31"):
            await same_figures(bot, words)
        bot.clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
        on_due_day = await raise_(
            bot, LI, "李明", "referral", {"title": "当天受理", "addressee": "CHIBEI-CENTER"}
        )
        after_due_day = await raise_(
            bot, LI, "李明", "referral", {"title": "逾期受理", "addressee": "CHIBEI-CENTER"}
        )
        bot.clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI))  # 15:30 UTC
        at_midnight = await raise_(
            bot, LI, "李明", "referral", {"title": "深夜提请", "addressee": "CHIBEI-CENTER"}
        )
        bot.clock.set(datetime(2026, 11, 26, 0, 30, tzinfo=SHANGHAI))  # 25 November in UTC
        await act(bot, ZHAO, "赵法官", at_midnight, "acknowledge")
        due = date.fromisoformat(
            (await assignment_of(bot, on_due_day, "CHIBEI-CENTER")).dues["ack"]
        )
        bot.clock.set(datetime.combine(due, time(9), SHANGHAI))
        waiting = (await same_figures(bot, "2026")).of("YB-IPC")
        await act(bot, ZHAO, "赵法官", on_due_day, "acknowledge")
        answered = (await same_figures(bot, "2026")).of("YB-IPC")
        bot.clock.set(datetime.combine(due + timedelta(days=1), time(9), SHANGHAI))
        late = (await same_figures(bot, "2026")).of("YB-IPC")
        await act(bot, ZHAO, "赵法官", after_due_day, "acknowledge")
        card = await same_figures(bot, "2026")
        court = card.of("YB-IPC")
        assert waiting and answered and late and court
        # Waiting on the due day is not late; the day after it is; answering on the due day
        # is on time, after it late; 23:30 to 00:30 is one working day (26 November).
        assert (answered.ack_on_time.of, late.ack_on_time.of) == (
            waiting.ack_on_time.of + 1,
            answered.ack_on_time.of + 1,
        )
        assert answered.ack_on_time.hits == waiting.ack_on_time.hits + 1
        assert (court.ack_on_time.hits, court.ack_on_time.of) == (
            late.ack_on_time.hits,
            late.ack_on_time.of,
        )
        assert court.ack_days.count(1) >= 1
        async with bot.svc.db.read() as conn:
            rows = await storage.summaries(
                conn,
                *parse_period("2026", bot.svc.today()).bounds(SHANGHAI),
                bot.svc.calculator().rules,
                storage.LocalDays(
                    conn.dialect.name,
                    SHANGHAI,
                    datetime(2026, 1, 1, tzinfo=SHANGHAI),
                    datetime(2027, 1, 1, tzinfo=SHANGHAI),
                ),
            )
        (midnight,) = [r for r in rows if r.case_id == at_midnight]
        assert (midnight.start, midnight.ack_day) == ("2026-11-25", "2026-11-26")


@pytest.mark.sqlite_only
async def test_the_summaries_are_read_through_indexes(db_url: str) -> None:
    """The summaries start from ix_cases_created_number, reach the addressees through their
    (case, position) index and every answer through ix_events_case; the matters with a
    request for more information come from ix_events_action_at_case alone."""
    from bot.domain.mechanisms import default_registry
    from bot.domain.stats import kind_rules
    from bot.storage.db import Database

    db = Database(db_url)
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 7, 1, tzinfo=tz)
    end = datetime(2026, 10, 1, tzinfo=tz)
    rules = kind_rules(default_registry())
    local = storage.LocalDays("sqlite", tz, start, end)
    try:
        async with db.read() as conn:
            for query in (
                storage.summary_query(start, end, rules, local),
                storage.summary_query(start, end, rules, local, ["YB-IPC", "CHIBEI-CENTER"]),
            ):
                sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                plan = [str(r[3]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
                assert "SEARCH cases USING COVERING INDEX ix_cases_created_number" in plan[0]
                assert "assignments" in plan[1] and "(case_id=?)" in plan[1], plan
                subqueries = [p for p in plan if p.startswith("SEARCH answer")]
                assert subqueries and all("ix_events_case (case_id=?)" in p for p in subqueries)
                assert not [line for line in plan if line.startswith("SCAN")], plan
            sql = storage.paused_query(start).compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = [str(r[3]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            assert plan == [
                "SEARCH events USING COVERING INDEX ix_events_action_at_case (action=? AND at>?)"
            ], plan
    finally:
        await db.dispose()
