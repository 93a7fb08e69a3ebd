"""The periods reports cover, as people type them after /export or /stats.

One reading for every report, so that the office's figures and its spreadsheets for "last
month" are about the same days. A period is a span of local days in the committee's time
zone, both ends included:

- nothing, ``this month``, ``本月``: this month (to its last day, not only to today);
- ``last month``, ``上月``; ``this year``, ``今年``; ``last year``, ``去年``;
- a quarter: ``2026Q3``, ``2026 Q3``, ``2026-Q3``, ``2026年第三季度``, ``2026年3季度``;
- a year: ``2026``, ``2026年``;
- a month: ``2026-11``, ``2026年11月``;
- two dates: ``2026-01-01 2026-03-31``, also with ``至``, ``到``, ``to``, ``~`` or ``..``
  between them, dates written ``2026-1-1``, ``2026/1/1``, ``2026.1.1`` or ``2026年1月1日``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_SPAN_DAYS = 366 * 5  # longer spans are almost certainly typing mistakes


class PeriodProblem(ValueError):
    """A period that cannot be read: ``bad`` (no reading), ``no_such_date``, ``reversed``
    (the end before the start) or ``too_long``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``first`` to ``last``, both included."""

    first: date
    last: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The moments the period starts and ends (exclusive), in UTC: what the database's
        moments are compared with."""
        start = datetime.combine(self.first, time(0), tz)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        return self.first <= moment.astimezone(tz).date() <= self.last

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def month(year: int, number: int) -> Period:
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return Period(first, following - timedelta(days=1))


def quarter(year: int, number: int) -> Period:
    first = month(year, 3 * number - 2)
    return Period(first.first, month(year, 3 * number).last)


def year(number: int) -> Period:
    return Period(date(number, 1, 1), date(number, 12, 31))


_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}
_NAMED = {
    "thismonth": "this_month",
    "本月": "this_month",
    "这个月": "this_month",
    "lastmonth": "last_month",
    "上月": "last_month",
    "上个月": "last_month",
    "thisyear": "this_year",
    "今年": "this_year",
    "本年": "this_year",
    "lastyear": "last_year",
    "去年": "last_year",
    "上年": "last_year",
}
_QUARTER = re.compile(r"^(\d{4})(?:-|年第?)?[qQ]?([1-4一二三四])(?:季度?)?$")
_YEAR = re.compile(r"^(\d{4})年?$")
_MONTH = re.compile(r"^(\d{4})(?:[-/.]|年)(\d{1,2})月?$")
_DATE = r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*[日号]?"
_TWO_DATES = re.compile(rf"^({_DATE})\s*(?:至|到|to|~|\.\.|—|–|\s)\s*({_DATE})$", re.IGNORECASE)
_DATE_PARTS = re.compile(r"(\d{4})\D+(\d{1,2})\D+(\d{1,2})")


def _date(text: str) -> date:
    parts = _DATE_PARTS.match(text)
    if parts is None:
        raise PeriodProblem("bad")
    return date(int(parts[1]), int(parts[2]), int(parts[3]))


def parse_period(text: str, today: date) -> Period:
    """The period ``text`` names; ``today`` is the local day (for this/last month)."""
    try:
        return _parse(text, today)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, PeriodProblem):
            raise
        raise PeriodProblem("no_such_date") from exc


def _parse(text: str, today: date) -> Period:
    raw = unicodedata.normalize("NFKC", text).strip()
    compact = re.sub(r"\s+", "", raw).lower()
    named = _NAMED.get(compact, "this_month" if not compact else None)
    if named == "this_month":
        return month(today.year, today.month)
    if named == "last_month":
        previous = today.replace(day=1) - timedelta(days=1)
        return month(previous.year, previous.month)
    if named == "this_year":
        return year(today.year)
    if named == "last_year":
        return year(today.year - 1)
    found = _QUARTER.match(compact)
    if found and ("q" in compact or "季" in compact):
        digit = found[2]
        return quarter(int(found[1]), _CN_DIGITS.get(digit) or int(digit))
    found = _YEAR.match(compact)
    if found:
        return year(int(found[1]))
    found = _MONTH.match(compact)
    if found:
        return month(int(found[1]), int(found[2]))
    found = _TWO_DATES.match(raw)
    if found is None:
        raise PeriodProblem("bad")
    period = Period(_date(found[1]), _date(found[2]))
    if period.last < period.first:
        raise PeriodProblem("reversed")
    if period.days > MAX_SPAN_DAYS:
        raise PeriodProblem("too_long")
    return period
