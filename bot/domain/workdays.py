"""The Chinese working-day (工作日) calendar that linkage deadlines are counted on.

Statutory holidays are days off, and some Saturdays/Sundays are make-up working days (调休).
The State Council publishes each year's schedule in November, so the `holidays` library
lags behind: for a year it has no notice for, it only *estimates* the holidays and has no
make-up days. The committee file can therefore give a year's schedule itself, and the bot
warns when a deadline window rests on estimates or on no data at all; it never crashes and
at worst counts Monday–Friday.

Committee file shape (the whole ``[calendar]`` table is optional)::

    [calendar.2027]
    # Days off: single dates or inclusive ranges "start..end". TOML date literals
    # (holidays = [2027-01-01]) are accepted as well as strings.
    holidays = ["2027-01-01", "2027-02-06..2027-02-13"]
    # Make-up working days (调休); each must be a Saturday or a Sunday.
    workdays = ["2027-02-14"]
    # true (default): this is the complete official schedule (the State Council notice).
    # false: provisional data; used, but the bot keeps warning that the year is estimated.
    official = true

A year the office confirmed from the State Council's notice with /calendar (stored in the
database, handed over with ``use_notices``/``use_notice``) comes before both: it replaces the
committee file's table and the library for that year, at once, without a restart. Its days
in the previous December (a New Year holiday that starts there) apply to that December.

A configured year replaces the library for that year entirely: listed holidays are off,
listed workdays are on, every other day is Monday–Friday on, Saturday/Sunday off. Every
date must lie in its table's year; a make-up day that a notice places in the previous
December therefore goes into that December's year table.

Deadline convention: a matter raised on day D with an N-working-day deadline is due at the
end of ``add_working_days(D, N)``; the day it is raised never counts, whatever time it is.
``working_days_between(due, today)`` is then how many working days it is overdue.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Literal

Source = Literal["notice", "configured", "library", "estimated", "none"]
"""Where the answer for a date comes from; "estimated" and "none" deserve a warning."""

WARN_SOURCES: frozenset[Source] = frozenset({"estimated", "none"})

_ONE_DAY = timedelta(days=1)


# ----------------------------------------------------------------------------- overrides


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """One year's schedule from the committee file."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    official: bool = True


@dataclass(frozen=True, slots=True)
class CalendarOverrides:
    """The committee's per-year schedules; years not listed fall back to the library."""

    years: Mapping[int, YearSchedule] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, year: int) -> YearSchedule | None:
        return self.years.get(year)


# ------------------------------------------------------------------------------ calendar


@dataclass(frozen=True, slots=True)
class CoverageGap:
    """A stretch of days whose working-day status rests on estimates or on no data."""

    year: int
    source: Source
    first: date
    last: date


@dataclass(frozen=True, slots=True)
class _Year:
    """One year resolved to O(1) lookups: its days off and its make-up working days."""

    off: frozenset[date]
    on: frozenset[date]
    source: Source


_NO_DATA = _Year(frozenset(), frozenset(), "none")
_WALKS_KEPT = 1024  # walks remembered (see WorkingCalendar._walk): a few hundred KiB at most


class WorkingCalendar:
    """Answers "is this a working day?" from the committee file, the library, or Mon–Fri.

    Each year is resolved once and cached, because the overdue scan asks about many days.
    """

    def __init__(
        self,
        overrides: CalendarOverrides,
        *,
        library: bool = True,
        notices: Mapping[int, YearSchedule] | None = None,
    ) -> None:
        self._overrides = overrides
        self._library = library
        self._notices: dict[int, YearSchedule] = dict(notices or {})
        self._years: dict[int, _Year] = {}
        # Deadlines are counted from a few start dates over and over (every step recounts
        # its matter's): each walk is remembered while the years it crossed stay as they are.
        self._walks: dict[tuple[date, int, timedelta], date] = {}

    # -------------------------------------------------------------------------- notices

    def use_notices(self, notices: Mapping[int, YearSchedule]) -> None:
        """The years confirmed from notices, as the database holds them (at start-up)."""
        self._notices = dict(notices)
        self._years.clear()  # every answer is resolved again, none from before
        self._walks.clear()

    def use_notice(self, schedule: YearSchedule) -> None:
        """One year just confirmed: from now on every deadline counts on it."""
        self._notices[schedule.year] = schedule
        self._years.clear()
        self._walks.clear()

    def with_notices(self, notices: Mapping[int, YearSchedule]) -> WorkingCalendar:
        """A new calendar on the same committee file and library with exactly ``notices`` as
        its confirmed years (this one unchanged): a confirmation counts on the years the
        database holds in its own transaction, not on what this process has seen so far.
        It shares nothing mutable with this one, so a worker thread may use it."""
        return WorkingCalendar(self._overrides, library=self._library, notices=notices)

    def notice(self, year: int) -> YearSchedule | None:
        return self._notices.get(year)

    def marks(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """The days of ``year`` listed as off and as make-up working days, whatever the
        source (a month view marks them)."""
        resolved = self._year(year)
        return resolved.off, resolved.on

    def is_working_day(self, d: date) -> bool:
        year = self._year(d.year)
        if d in year.on:
            return True
        if d in year.off:
            return False
        return d.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start``; for n = 0, ``start`` or the next working day.

        ``start`` itself never counts for n ≥ 1, so a matter raised on D with a 3-working-day
        deadline is due at the end of ``add_working_days(D, 3)``.
        """
        return self._walk(start, n, _ONE_DAY)

    def subtract_working_days(self, start: date, n: int) -> date:
        """The n-th working day before ``start`` (a hearing on D must be prepared for by
        ``subtract_working_days(D, 2)``); for n = 0, ``start`` or the working day before."""
        return self._walk(start, n, -_ONE_DAY)

    def _walk(self, start: date, n: int, step: timedelta) -> date:
        """The n-th working day from ``start`` in the direction of ``step``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        key = (start, n, step)
        found = self._walks.get(key)
        if found is not None:
            return found
        if len(self._walks) >= _WALKS_KEPT:
            self._walks.clear()
        found = self._walks[key] = self._walk_days(start, n, step)
        return found

    def _walk_days(self, start: date, n: int, step: timedelta) -> date:
        d = start
        if n == 0:
            while not self.is_working_day(d):
                d += step
            return d
        while n:
            d += step
            if self.is_working_day(d):
                n -= 1
        return d
        while n:
            d -= _ONE_DAY
            if self.is_working_day(d):
                n -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]: how late something due at the end of ``a`` is on ``b``."""
        count = 0
        d = a + _ONE_DAY
        while d <= b:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return count

    def source(self, d: date) -> Source:
        """Where the answer for ``d`` comes from; "estimated"/"none" are worth a warning."""
        return self._year(d.year).source

    def coverage_warnings(self, today: date, days: int = 60) -> list[CoverageGap]:
        """Stretches of [today, today + days) resting on estimated data or on none."""
        if days <= 0:
            return []
        end = today + timedelta(days=days - 1)
        gaps: list[CoverageGap] = []
        for year in range(today.year, end.year + 1):
            source = self._year(year).source
            if source in WARN_SOURCES:
                first = max(today, date(year, 1, 1))
                last = min(end, date(year, 12, 31))
                gaps.append(CoverageGap(year, source, first, last))
        return gaps

    def known_through(self, today: date, horizon: int = 10) -> int | None:
        """The last year up to which, from ``today``'s year on, every year's holidays are
        known (configured, or the library's published schedule): what /status calls the
        calendar's coverage. None: not even this year's."""
        last: int | None = None
        for year in range(today.year, today.year + horizon):
            if self._year(year).source in WARN_SOURCES:
                break
            last = year
        return last

    # -------------------------------------------------------------------------- per year

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is None:
            cached = self._years[year] = self._resolve(year)
        return cached

    def _resolve(self, year: int) -> _Year:
        found = self._resolve_own(year)
        following = self._notices.get(year + 1)
        if following is None:
            return found
        # The next year's notice may start its New Year holiday in this December.
        off = {d for d in following.holidays if d.year == year}
        on = {d for d in following.workdays if d.year == year}
        if not off and not on:
            return found
        return _Year((found.off - on) | off, (found.on - off) | on, found.source)

    def _resolve_own(self, year: int) -> _Year:
        notice = self._notices.get(year)
        if notice is not None:
            return _Year(
                frozenset(d for d in notice.holidays if d.year == year),
                frozenset(d for d in notice.workdays if d.year == year),
                "notice",
            )
        schedule = self._overrides.get(year)
        if schedule is not None:
            return _Year(
                schedule.holidays,
                schedule.workdays,
                "configured" if schedule.official else "estimated",
            )
        if not self._library:
            return _NO_DATA
        try:
            return _library_year(year)
        except Exception:
            # Third-party data must never take the bot down: degrade to Mon–Fri, and
            # source() == "none" makes the start-up check warn about it.
            return _NO_DATA


def _library_year(year: int) -> _Year:
    """Read one year from `holidays` 0.108's China calendar (PUBLIC category only).

    How the library marks estimates (checked on 0.108): it does not, per year. Every lunar
    date comes back from its calendar flagged "estimated" (plain ``_ChineseLunisolar`` has
    no confirmed years) and ``China`` hard-codes ``show_estimated=False``, so names never
    carry "（推定）"/"(estimated)". What differs is the State Council schedule: years with a
    notice in ``ChinaStaticHolidays.special_public_holidays`` (2001–2026) get substituted
    days off and thus ``weekend_workdays``; other years get only the statutory days with a
    Sat/Sun-to-next-workday rule and no make-up days. Every official year 2001–2026 has
    make-up days (2024: 8, 2025: 5, 2026: 6), 2000 and 2027 have none, so "no make-up day in
    the year" is the estimate marker. A name label is still honoured should a later version
    turn labels on; that errs towards warning.
    """
    cn = _china()(years=year)
    off = frozenset(d for d in cn if d.year == year)
    if not off:  # outside the library's 1950–2100, or nothing known
        return _NO_DATA
    # weekend_workdays also holds cross-year make-up days of other years' notices
    # (e.g. 2001-12-29 for New Year 2002), preloaded at construction: keep this year's.
    on = frozenset(d for d in cn.weekend_workdays if d.year == year and d.weekday() >= 5)
    labelled = any(
        "推定" in name or "estimated" in name.lower() for d, name in cn.items() if d.year == year
    )
    return _Year(off, on, "library" if on and not labelled else "estimated")


_COUNTRIES = "holidays.countries"


def _china() -> type:
    """`holidays`' China class, without the library's other countries: importing
    ``holidays.countries.china`` runs the ``holidays.countries`` package first, which
    imports all 250 of them (some 8 MiB of the bot's heap, for good, for one calendar).
    While China's module is imported, a bare package stands in for that one; afterwards a
    real import of it (not done by the bot) works as usual and reuses China's module."""
    # Here, not at the top: not on the way to the bot's first answer (see handlers.registry).
    import holidays

    if _COUNTRIES in sys.modules:
        return importlib.import_module(f"{_COUNTRIES}.china").China  # type: ignore[no-any-return]
    bare = ModuleType(_COUNTRIES)
    bare.__path__ = [str(Path(holidays.__file__).parent / "countries")]
    sys.modules[_COUNTRIES] = bare
    try:
        return importlib.import_module(f"{_COUNTRIES}.china").China  # type: ignore[no-any-return]
    finally:
        if sys.modules.get(_COUNTRIES) is bare:
            del sys.modules[_COUNTRIES]
