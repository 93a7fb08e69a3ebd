"""The periods reports cover (/stats, the quarterly report, /export): whole local days in the
committee's time zone, read from what people type, and carried by buttons.

One reading for every report, so that the office's figures and its spreadsheets for "last
month" are about the same days:

- nothing, ``本月``, ``this month``: this month (to its last day, not only to today);
- ``上月``, ``last month``; ``本季度``/``上季度``, ``this``/``last quarter``; ``今年``, ``去年``,
  ``this``/``last year``;
- a quarter: ``2026Q3``, ``2026 Q3``, ``2026-Q3``, ``2026年第三季度``, ``2026年3季度``, ``Q3``
  (this year);
- a year: ``2026``, ``2026年``; a month: ``2026-11``, ``2026年11月``;
- two dates: ``2026-01-01 2026-03-31``, also with ``至``, ``到``, ``to``, ``~`` or ``..``
  between them, in any form the forms accept (``2026/1/1``, ``2026年1月1日``; ``1月1日至3月31日``:
  a date without a year is in this year), or joined by a hyphen (``2026.1.1-2026.3.31``,
  ``2026-01-01-2026-03-31``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.errors import DomainError, InvalidInput
from bot.domain.fields import parse_date


class PeriodError(DomainError):
    """A period that cannot be read; the user gets the usage message. ``reason``: ``bad`` (no
    reading), ``no_such_date``, ``reversed`` (the end before the start) or ``too_long``."""

    code = "bad_period"

    def __init__(self, reason: str = "bad") -> None:
        super().__init__(None, reason=reason)

    @property
    def reason(self) -> str:
        return str(self.params.get("reason", "bad"))


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days ``first`` … ``last``; ``kind`` says how to name it (month, quarter,
    year or range)."""

    first: date
    last: date
    kind: str = "range"

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as [start, end) moments in UTC, for a query on ``created_at``."""
        start = datetime.combine(self.first, time.min, tz)
        end = datetime.combine(self.last + timedelta(days=1), time.min, tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        return self.first <= moment.astimezone(tz).date() <= self.last

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def parts(self, days: int = 31) -> list[Period]:
        """The period cut into consecutive pieces of at most ``days`` days (to read a long
        period a piece at a time)."""
        pieces: list[Period] = []
        first = self.first
        while first <= self.last:
            last = min(self.last, first + timedelta(days=days - 1))
            pieces.append(Period(first, last))
            first = last + timedelta(days=1)
        return pieces

    @property
    def quarter(self) -> int:
        return (self.first.month - 1) // 3 + 1

    @property
    def token(self) -> str:
        """The period as a button carries it: ``20260101-20260331``."""
        return f"{self.first:%Y%m%d}-{self.last:%Y%m%d}"

    @classmethod
    def from_token(cls, token: str) -> Period | None:
        """A period from a button; None for data that is malformed or forged."""
        match = re.fullmatch(r"(\d{8})-(\d{8})", token)
        if match is None:
            return None
        try:
            first = datetime.strptime(match[1], "%Y%m%d").date()
            last = datetime.strptime(match[2], "%Y%m%d").date()
        except ValueError:
            return None
        if last < first or last - first > MAX_SPAN or not _in_range(first, last):
            return None
        return cls(first, last, _kind_of(first, last))


MAX_SPAN = timedelta(days=366 * 5)  # longer spans are almost certainly typing mistakes
FIRST_YEAR, LAST_YEAR = 2000, 2100


def month(year: int, number: int) -> Period:
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return Period(first, following - timedelta(days=1), "month")


def quarter(year: int, number: int) -> Period:
    first = date(year, 3 * number - 2, 1)
    following = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return Period(first, following - timedelta(days=1), "quarter")


def year(number: int) -> Period:
    return Period(date(number, 1, 1), date(number, 12, 31), "year")


def quarter_before(day: date) -> Period:
    """The quarter before the one ``day`` is in (what a quarterly report covers)."""
    number = (day.month - 1) // 3 + 1
    return quarter(day.year - 1, 4) if number == 1 else quarter(day.year, number - 1)


def _kind_of(first: date, last: date) -> str:
    """How a period read back from a button is named: as the month, quarter or year it is."""
    for candidate in (
        month(first.year, first.month),
        quarter(first.year, (first.month - 1) // 3 + 1),
        year(first.year),
    ):
        if (candidate.first, candidate.last) == (first, last):
            return candidate.kind
    return "range"


_QUARTER_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
# Matched without spaces, lower-cased: 2026q3, 2026-q3, 2026年第三季度, 2026年3季度, q3, 第三季度.
_QUARTER_RE = re.compile(r"^(?:(\d{4})(?:-|年)?)?(?:q([1-4])|第?([一二三四1-4])季度?)$")
_YEAR_RE = re.compile(r"^(\d{4})年?$")
_MONTH_RE = re.compile(r"^(\d{4})(?:[-/.]|年)(\d{1,2})月?$")
_RANGE_SPLIT = re.compile(r"\s*(?:至|到|~|～|—|–|\.\.|\bto\b|\s)\s*")


def parse_period(text: str, today: date) -> Period:
    """The period ``text`` names (``today``: the local day, for this month and the like);
    raises ``PeriodError`` with the reason for anything else."""
    raw = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).strip().lower())
    try:
        return _checked(_parse(raw, today))
    except ValueError as exc:  # a month or quarter that does not exist
        raise PeriodError("no_such_date") from exc


def _parse(raw: str, today: date) -> Period:
    if raw in ("", "本月", "这个月", "this month", "this"):
        return month(today.year, today.month)
    if raw in ("上月", "上个月", "last month", "last"):
        previous = today.replace(day=1) - timedelta(days=1)
        return month(previous.year, previous.month)
    if raw in ("本季度", "this quarter"):
        return quarter(today.year, (today.month - 1) // 3 + 1)
    if raw in ("上季度", "上个季度", "last quarter"):
        return quarter_before(today)
    if raw in ("今年", "本年", "this year"):
        return year(today.year)
    if raw in ("去年", "上年", "last year"):
        return year(today.year - 1)
    compact = raw.replace(" ", "")
    match = _QUARTER_RE.match(compact)
    if match:
        number = int(match[2]) if match[2] else _QUARTER_WORDS[match[3]]
        return quarter(int(match[1]) if match[1] else today.year, number)
    match = _YEAR_RE.match(compact)
    if match:
        return year(int(match[1]))
    match = _MONTH_RE.match(compact)
    if match:
        return month(int(match[1]), int(match[2]))
    # A date without a year is read in this year (parse_date's reference day is where a
    # yearless date starts to count).
    since = date(today.year, 1, 1)
    parts = [p for p in _RANGE_SPLIT.split(raw) if p and p != "-"]  # "2026.1.1 - 2026.3.31"
    if len(parts) == 2:
        try:
            first, last = (parse_date(p, since) for p in parts)
        except InvalidInput as exc:
            raise PeriodError("no_such_date" if exc.code == "no_such_date" else "bad") from exc
    elif len(parts) == 1 and (found := _hyphenated(parts[0], since)) is not None:
        first, last = found  # 2026.1.1-2026.3.31, 2026-01-01-2026-03-31
    else:
        raise PeriodError()
    if last < first:
        raise PeriodError("reversed")
    if last - first > MAX_SPAN:
        raise PeriodError("too_long")
    return Period(first, last, _kind_of(first, last))


def _hyphenated(text: str, since: date) -> tuple[date, date] | None:
    """Two dates joined by a hyphen, which may also be inside each date: the one place to
    cut where both halves are dates (None if no place or more than one)."""
    found = []
    for i, char in enumerate(text):
        if char != "-":
            continue
        try:
            found.append((parse_date(text[:i], since), parse_date(text[i + 1 :], since)))
        except InvalidInput:
            continue
    return found[0] if len(found) == 1 else None


def _in_range(first: date, last: date) -> bool:
    """The years reports accept (also what keeps a period's moments representable)."""
    return first.year >= FIRST_YEAR and last.year <= LAST_YEAR


def _checked(period: Period) -> Period:
    if not _in_range(period.first, period.last):
        raise PeriodError()
    return period
