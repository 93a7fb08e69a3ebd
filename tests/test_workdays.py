"""The working-day calendar: real 2025–2027 schedules, committee overrides, safe fallbacks."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest

from bot.config import ConfigError, parse_calendar, parse_committee
from bot.domain import workdays
from bot.domain.workdays import (
    CalendarOverrides,
    CoverageGap,
    WorkingCalendar,
    YearSchedule,
)

FILE = "COMMITTEE_CONFIG (committee.toml)"
WHERE = f"{FILE}: calendar"  # as bot.config passes it
LIB = WorkingCalendar(CalendarOverrides())  # library only; shared, it is a pure cache

# A *hypothetical* 2027 schedule (the real one is not published on 2026-11-25). It gives
# 2027-01-04 off, which the library's estimate does not, so the two are distinguishable.
CAL_2027 = """
[calendar.2027]
holidays = ["2027-01-01..2027-01-04", 2027-02-05, "2027-02-06..2027-02-13"]
workdays = ["2027-02-14"]
"""


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    a, b = d(first), d(last)
    return [a + timedelta(n) for n in range((b - a).days + 1)]


def calendar(toml: str = "", *, library: bool = True) -> WorkingCalendar:
    raw = tomllib.loads(toml).get("calendar")
    return WorkingCalendar(parse_calendar(raw, WHERE), library=library)


# ------------------------------------------------------------------ library, 2024–2026


def test_library_years_match_holidays_is_working_day_exactly() -> None:
    cn = holidays.China(years=range(2024, 2027))
    for day in days("2024-01-01", "2026-12-31"):
        assert LIB.is_working_day(day) == cn.is_working_day(day), day
        assert LIB.source(day) == "library"


def test_national_day_2025_week_and_make_up_days() -> None:
    assert not any(LIB.is_working_day(x) for x in days("2025-10-01", "2025-10-08"))
    assert LIB.is_working_day(d("2025-09-28"))  # Sunday, make-up day
    assert LIB.is_working_day(d("2025-10-11"))  # Saturday, make-up day
    assert not LIB.is_working_day(d("2025-10-12"))  # an ordinary Sunday
    # Across the holiday week: raised Tue 30 Sep, 1 working day -> Thu 9 Oct.
    assert LIB.add_working_days(d("2025-09-30"), 1) == d("2025-10-09")
    # Across the make-up Sunday: raised Fri 26 Sep, 1 working day -> Sun 28 Sep.
    assert LIB.add_working_days(d("2025-09-26"), 1) == d("2025-09-28")
    assert LIB.add_working_days(d("2025-09-26"), 3) == d("2025-09-30")
    assert LIB.add_working_days(d("2025-09-26"), 4) == d("2025-10-09")
    # Across the make-up Saturday: Thu 9 Oct + 2 -> Sat 11 Oct.
    assert LIB.add_working_days(d("2025-10-09"), 2) == d("2025-10-11")


def test_national_day_2026_per_library() -> None:
    # Mid-Autumn Fri 25 Sep; National Day Oct 1–7; make-up Sun 20 Sep and Sat 10 Oct.
    assert not LIB.is_working_day(d("2026-09-25"))
    assert not any(LIB.is_working_day(x) for x in days("2026-10-01", "2026-10-07"))
    assert LIB.is_working_day(d("2026-09-20"))
    assert LIB.is_working_day(d("2026-10-10"))
    assert LIB.add_working_days(d("2026-09-30"), 1) == d("2026-10-08")
    assert LIB.add_working_days(d("2026-10-08"), 2) == d("2026-10-10")
    assert LIB.add_working_days(d("2026-09-18"), 1) == d("2026-09-20")


def test_spring_festival_2026_per_library() -> None:
    # Off Sun 15 – Mon 23 Feb; make-up Sat 14 Feb and Sat 28 Feb.
    assert not any(LIB.is_working_day(x) for x in days("2026-02-15", "2026-02-23"))
    assert LIB.is_working_day(d("2026-02-14"))
    assert LIB.is_working_day(d("2026-02-28"))
    assert LIB.add_working_days(d("2026-02-13"), 1) == d("2026-02-14")
    assert LIB.add_working_days(d("2026-02-14"), 3) == d("2026-02-26")
    assert LIB.add_working_days(d("2026-02-26"), 2) == d("2026-02-28")
    assert LIB.working_days_between(d("2026-02-13"), d("2026-02-24")) == 2


def test_add_working_days_zero_and_negative() -> None:
    assert LIB.add_working_days(d("2026-02-13"), 0) == d("2026-02-13")  # a Friday
    assert LIB.add_working_days(d("2026-02-15"), 0) == d("2026-02-24")  # in the holiday
    # Raised on a rest day: that day never counts, so n = 1 is the same first working day.
    assert LIB.add_working_days(d("2026-02-15"), 1) == d("2026-02-24")
    assert LIB.add_working_days(d("2026-02-15"), 2) == d("2026-02-25")
    with pytest.raises(ValueError):
        LIB.add_working_days(d("2026-02-13"), -1)


def test_working_days_between_counts_overdue_days() -> None:
    assert LIB.working_days_between(d("2025-09-30"), d("2025-09-30")) == 0
    assert LIB.working_days_between(d("2025-10-09"), d("2025-09-30")) == 0
    assert LIB.working_days_between(d("2025-09-30"), d("2025-10-08")) == 0
    assert LIB.working_days_between(d("2025-09-30"), d("2025-10-11")) == 3
    start = d("2025-09-20")
    for n in range(1, 15):
        assert LIB.working_days_between(start, LIB.add_working_days(start, n)) == n


# ------------------------------------------------------------------ the year boundary


def test_year_boundary_with_configured_2027() -> None:
    cal = calendar(CAL_2027)
    # Thu 31 Dec (1), Fri 1 – Mon 4 Jan off, Tue 5 (2), Wed 6 (3).
    assert cal.add_working_days(d("2026-12-30"), 3) == d("2027-01-06")
    assert cal.source(d("2026-12-30")) == "library"
    assert cal.source(d("2027-01-06")) == "configured"
    assert cal.is_working_day(d("2027-02-14"))  # the configured make-up Sunday
    assert not cal.is_working_day(d("2027-02-05"))  # given as a TOML date literal


def test_year_boundary_without_2027_uses_the_library_estimate() -> None:
    # The estimate: 1 Jan off, no make-up days. Thu 31 Dec (1), Mon 4 (2), Tue 5 (3).
    assert LIB.add_working_days(d("2026-12-30"), 3) == d("2027-01-05")
    assert LIB.source(d("2027-01-05")) == "estimated"
    assert not LIB.is_working_day(d("2027-02-08"))  # estimated Spring Festival
    assert not LIB.is_working_day(d("2027-02-14"))  # no make-up days in an estimate


def test_year_boundary_without_library_is_monday_to_friday() -> None:
    cal = calendar(library=False)
    # Thu 31 Dec (1), Fri 1 Jan (2), Mon 4 (3): nothing is known, only weekends.
    assert cal.add_working_days(d("2026-12-30"), 3) == d("2027-01-04")
    assert cal.source(d("2027-01-04")) == "none"
    assert cal.source(d("2026-10-01")) == "none"
    assert cal.is_working_day(d("2026-10-01"))


def test_library_beyond_its_range_is_none() -> None:
    assert LIB.source(d("2101-03-01")) == "none"
    assert LIB.is_working_day(d("2101-03-01"))  # a Tuesday
    assert LIB.source(d("1949-10-01")) == "none"


# ------------------------------------------------------------------ committee overrides


def test_committee_schedule_beats_the_library() -> None:
    lib = holidays.China(years=2026)
    off = sorted(x.isoformat() for x in lib if x.year == 2026)
    on = sorted(x.isoformat() for x in lib.weekend_workdays if x.year == 2026)
    raw = {"2026": {"holidays": [*off, "2026-12-31"], "workdays": [*on, "2026-12-27"]}}
    cal = WorkingCalendar(parse_calendar(raw, WHERE))
    assert not cal.is_working_day(d("2026-12-31"))  # extra holiday, a Thursday
    assert LIB.is_working_day(d("2026-12-31"))
    assert cal.is_working_day(d("2026-12-27"))  # extra make-up Sunday
    assert not LIB.is_working_day(d("2026-12-27"))
    assert cal.add_working_days(d("2026-12-24"), 2) == d("2026-12-27")
    assert cal.source(d("2026-06-01")) == "configured"
    changed = {d("2026-12-31"), d("2026-12-27")}
    for day in days("2026-01-01", "2026-12-31"):
        if day not in changed:
            assert cal.is_working_day(day) == LIB.is_working_day(day), day


def test_configured_year_is_exactly_the_configured_data() -> None:
    # The library's 2026 Spring Festival is not consulted once 2026 is configured.
    cal = WorkingCalendar(parse_calendar({"2026": {"holidays": ["2026-01-01"]}}, WHERE))
    assert cal.is_working_day(d("2026-02-17"))
    assert not cal.is_working_day(d("2026-02-14"))  # no make-up Saturday configured
    assert not cal.is_working_day(d("2026-01-01"))


def test_unofficial_configured_year_is_used_but_estimated() -> None:
    cal = calendar('[calendar.2027]\nholidays = ["2027-01-01..2027-01-04"]\nofficial = false\n')
    assert not cal.is_working_day(d("2027-01-04"))
    assert cal.source(d("2027-01-04")) == "estimated"


# ------------------------------------------------------------------ coverage warnings


def test_coverage_warnings_on_2026_11_25() -> None:
    today = d("2026-11-25")
    assert LIB.coverage_warnings(today) == [
        CoverageGap(2027, "estimated", d("2027-01-01"), d("2027-01-23"))
    ]
    assert calendar(CAL_2027).coverage_warnings(today) == []
    assert LIB.coverage_warnings(today, days=30) == []  # ends 2026-12-24
    assert LIB.coverage_warnings(today, days=0) == []


def test_coverage_warnings_without_any_data() -> None:
    gaps = calendar(library=False).coverage_warnings(d("2026-11-25"))
    assert gaps == [
        CoverageGap(2026, "none", d("2026-11-25"), d("2026-12-31")),
        CoverageGap(2027, "none", d("2027-01-01"), d("2027-01-23")),
    ]


# ------------------------------------------------------------------ library failures


def test_library_raising_falls_back_to_monday_to_friday(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**_: Any) -> None:
        raise RuntimeError("broken data")

    monkeypatch.setattr(workdays, "_china", lambda: boom)
    cal = calendar()
    assert cal.is_working_day(d("2026-10-01"))
    assert not cal.is_working_day(d("2026-10-10"))
    assert cal.source(d("2026-10-01")) == "none"
    assert cal.add_working_days(d("2026-09-30"), 1) == d("2026-10-01")
    assert cal.coverage_warnings(d("2026-12-20"), 5) == [
        CoverageGap(2026, "none", d("2026-12-20"), d("2026-12-24"))
    ]


def test_library_missing_a_year_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    real = holidays.China

    def without_2027(*, years: int) -> holidays.HolidayBase:
        return real(years=years if years != 2027 else [])

    monkeypatch.setattr(workdays, "_china", lambda: without_2027)
    cal = calendar()
    assert cal.source(d("2026-12-31")) == "library"
    assert cal.source(d("2027-01-01")) == "none"
    assert cal.is_working_day(d("2027-01-01"))
    assert cal.coverage_warnings(d("2026-11-25")) == [
        CoverageGap(2027, "none", d("2027-01-01"), d("2027-01-23"))
    ]


def test_years_are_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = holidays.China
    calls: list[int] = []

    def counting(*, years: int) -> holidays.HolidayBase:
        calls.append(years)
        return real(years=years)

    monkeypatch.setattr(workdays, "_china", lambda: counting)
    cal = calendar()
    for day in days("2026-01-01", "2026-12-31"):
        cal.is_working_day(day)
    assert calls == [2026]


def test_a_confirmed_notice_recounts_a_deadline_counted_before() -> None:
    """Counts are remembered; a year confirmed from its notice is counted on at once."""
    cal = calendar()
    start = d("2027-01-06")  # a Wednesday; the library's 2027 is an estimate
    assert cal.add_working_days(start, 3) == d("2027-01-11")  # Thu, Fri, Mon
    assert cal.subtract_working_days(d("2027-01-11"), 3) == start
    # The notice gives Friday 8 January off.
    cal.use_notice(YearSchedule(2027, frozenset({d("2027-01-01"), d("2027-01-08")}), frozenset()))
    assert cal.add_working_days(start, 3) == d("2027-01-12")  # Thu, Mon, Tue
    assert cal.subtract_working_days(d("2027-01-11"), 3) == d("2027-01-05")
    cal.use_notices({})
    assert cal.add_working_days(start, 3) == d("2027-01-11")


# ------------------------------------------------------------------ parse_calendar


def test_parse_calendar_absent_and_valid() -> None:
    assert parse_calendar(None, WHERE).years == {}
    ov = parse_calendar(tomllib.loads(CAL_2027)["calendar"], WHERE)
    y = ov.years[2027]
    assert y.official is True
    assert d("2027-02-10") in y.holidays and len(y.holidays) == 13
    assert y.workdays == {d("2027-02-14")}
    assert ov.get(2026) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["2027"], "calendar must be a table of years, e.g. [calendar.2027]."),
        ({"next": {}}, "calendar.next is not a year; use tables like [calendar.2027]."),
        ({"1900": {}}, "calendar.1900 is out of range (1950–2999)."),
        ({"2027": {"official": False}, 2027: {"official": False}}, "calendar.2027 is given twice."),
        (
            {"2027": ["2027-01-01"]},
            "calendar.2027 must be a table with holidays, workdays and official.",
        ),
        (
            {"2027": {"holidays": ["2027-01-01"], "holiday": []}},
            "calendar.2027: unknown key 'holiday' (allowed: holidays, workdays, official).",
        ),
        (
            {"2027": {"holidays": ["2027-01-01"], "official": "yes"}},
            "calendar.2027.official must be true or false, got 'yes'.",
        ),
        (
            {"2027": {"holidays": "2027-01-01"}},
            'calendar.2027.holidays must be a list of dates like "2027-01-01" or "2027-02-06..2027-02-13".',
        ),
        (
            {"2027": {"holidays": ["2027-01-01", "2027-02-30"]}},
            "calendar.2027.holidays[1]: '2027-02-30' is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD).",
        ),
        (
            {"2027": {"holidays": ["1 Jan 2027"]}},
            "calendar.2027.holidays[0]: '1 Jan 2027' is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD).",
        ),
        (
            {"2027": {"holidays": ["2027-02-06..2027-02"]}},
            "calendar.2027.holidays[0]: '2027-02-06..2027-02' is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD).",
        ),
        (
            {"2027": {"holidays": [20270101]}},
            "calendar.2027.holidays[0]: 20270101 is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD).",
        ),
        (
            {"2027": {"holidays": ["2027-02-13..2027-02-06"]}},
            "calendar.2027.holidays[0]: range '2027-02-13..2027-02-06' ends (2027-02-06) before it starts (2027-02-13).",
        ),
        (
            {"2027": {"holidays": ["2026-12-31..2027-01-03"]}},
            "calendar.2027.holidays[0]: 2026-12-31 is not in 2027.",
        ),
        (
            {"2027": {"holidays": ["2027-01-01"], "workdays": ["2028-01-01"]}},
            "calendar.2027.workdays[0]: 2028-01-01 is not in 2027.",
        ),
        (
            {"2027": {"holidays": ["2027-02-06..2027-02-14"], "workdays": ["2027-02-14"]}},
            "calendar.2027: 2027-02-14 is listed both in holidays and in workdays.",
        ),
        (
            {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-02-15"]}},
            "calendar.2027.workdays[0]: 2027-02-15 is a Monday; make-up working days (调休) fall on a Saturday or Sunday.",
        ),
        (
            {"2027": {"workdays": ["2027-02-14"]}},
            "calendar.2027.holidays is empty; an official schedule lists the year's holidays (or set official = false, or remove the table to use the library).",
        ),
    ],
)
def test_parse_calendar_errors(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_calendar(raw, WHERE)
    assert str(info.value) == f"{FILE}: {message}"


def test_parse_calendar_rejects_a_toml_date_time() -> None:
    raw = tomllib.loads("[calendar.2027]\nholidays = [2027-01-01T00:00:00]\n")["calendar"]
    with pytest.raises(ConfigError) as info:
        parse_calendar(raw, WHERE)
    assert str(info.value) == (
        f"{FILE}: calendar.2027.holidays[0]: 2027-01-01T00:00:00 has a time; give a date only."
    )


def test_committee_file_calendar_table_through_bot_config() -> None:
    text = (Path(__file__).resolve().parent.parent / "committee.example.toml").read_text("utf-8")
    committee = parse_committee(tomllib.loads(text + CAL_2027), "committee.toml")
    cal = WorkingCalendar(committee.calendar)
    assert cal.source(d("2027-01-04")) == "configured"
    assert not cal.is_working_day(d("2027-01-04"))
    bad = tomllib.loads(text + '[calendar.2027]\nholidays = ["2027-13-01"]\n')
    with pytest.raises(ConfigError) as info:
        parse_committee(bad, "committee.toml")
    assert str(info.value) == (
        "COMMITTEE_CONFIG (committee.toml): calendar.2027.holidays[0]: '2027-13-01' is not "
        "a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)."
    )


def test_library_calendar_loads_china_alone_with_the_same_days() -> None:
    """The library's China calendar is read without importing its other countries (some
    8 MiB the bot would keep for good), and gives what ``holidays.China`` gives."""
    import subprocess
    import sys

    code = """
import sys
from datetime import date
from bot.domain.workdays import CalendarOverrides, WorkingCalendar

cal = WorkingCalendar(CalendarOverrides())
years = range(2024, 2028)
seen = {y: [date(y, 1, 1).toordinal() + n for n in range(365)] for y in years}
mine = {y: [cal.is_working_day(date.fromordinal(o)) for o in seen[y]] for y in years}
others = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
assert others == ["holidays.countries.china"], others[:5]
assert "holidays.countries" not in sys.modules
import holidays
again = WorkingCalendar(CalendarOverrides())
assert mine == {y: [again.is_working_day(date.fromordinal(o)) for o in seen[y]] for y in years}
for y in years:
    cn = holidays.China(years=y)
    work = [not (d in cn or d.weekday() >= 5) or d in cn.weekend_workdays
            for d in map(date.fromordinal, seen[y])]
    assert mine[y] == work, y
print("ok")
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
