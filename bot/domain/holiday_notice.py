"""Reading the State Council's annual notice on holiday arrangements (国务院办公厅关于YYYY年
部分节假日安排的通知) into a year's days off and make-up working days (调休上班).

The notice is regular, and this reader is strict about it, because a misread day silently
moves every deadline across it: it names the problem and the item it is in rather than guess.
What it understands, in the forms the notices of the past twenty years use::

    一、元旦：1月1日（周三）放假1天，不调休。
    二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。
        1月26日（周日）、2月8日（周六）上班。
    三、清明节：4月5日放假，与周末连休。
    一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。
    六、国庆节、中秋节：10月1日至8日放假调休，共8天。
    一、元旦：1月1日至3日放假公休，共3天。  (2008–2011 notices, a holiday joining a weekend)

Full-width and half-width digits and punctuation are the same to it, and line breaks and
spaces do not matter (a notice pasted as one line reads as well). Remarks in parentheses are
remarks: a weekday in one is checked against its date, a date inside one (「除夕（2月9日）」 in
an encouragement to take the day off) is not a day off.

Contradictions are errors: 共N天 that does not match the range, a weekday that does not
match its date, a make-up working day that is not a Saturday or a Sunday, a day both off and
on, a date outside the notice's year (only the previous December may appear, as the start of
a New Year holiday and its make-up day), a holiday not among the seven, or missing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.errors import InvalidInput

# The seven public holidays every notice arranges; a notice may put two in one item
# (「六、国庆节、中秋节：」 when they fall together).
HOLIDAY_NAMES = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")

# The longest excerpt of the notice an error quotes.
MAX_LINE = 90

_WEEKDAYS = "一二三四五六日"


class NoticeProblem(InvalidInput):
    """The notice cannot be read as it stands; ``code`` says why and ``line`` quotes the
    item it is in (empty when the problem is the notice as a whole)."""

    def __init__(self, code: str, line: str = "", **params: object) -> None:
        super().__init__(code, line=line, **params)
        self.line = line


@dataclass(frozen=True, slots=True)
class Holiday:
    """One item of the notice: its holiday(s) and the days off it gives."""

    names: tuple[str, ...]
    first: date
    last: date
    extra: frozenset[date] = frozenset()  # 补休: single days off outside the range

    @property
    def days(self) -> frozenset[date]:
        span = (self.last - self.first).days + 1
        return frozenset(self.first + timedelta(days=i) for i in range(span)) | self.extra

    @property
    def name(self) -> str:
        return "、".join(self.names)


@dataclass(frozen=True, slots=True)
class HolidayNotice:
    """A year's schedule as the notice gives it. Days off and make-up days may include the
    previous December (a New Year holiday that starts there)."""

    year: int
    holidays: tuple[Holiday, ...]
    workdays: frozenset[date]

    @property
    def days_off(self) -> frozenset[date]:
        found: frozenset[date] = frozenset()
        for holiday in self.holidays:
            found |= holiday.days
        return found

    def holiday_on(self, day: date) -> Holiday | None:
        return next((h for h in self.holidays if day in h.days), None)

    def months(self) -> list[tuple[int, int]]:
        """The months the notice changes anything in, in order: what its month view shows."""
        return sorted({(d.year, d.month) for d in self.days_off | self.workdays})


# ------------------------------------------------------------------------------ reading


def _normalise(text: str) -> tuple[str, list[int]]:
    """The text with full-width forms folded (NFKC) and every space and line break gone,
    and for each character kept, where it was in ``text`` (errors quote the original)."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch)
        for part in folded:
            if part.isspace() or unicodedata.category(part) in ("Cf", "Cc"):
                continue
            chars.append(part)
            where.append(i)
    return "".join(chars), where


_YEAR_RES = (
    re.compile(r"关于(\d{4})年"),
    re.compile(r"(\d{4})年部分节假日"),
    re.compile(r"现将(\d{4})年"),
)
_NAME = r"[^:。,;、()]{1,6}"
_HEADER_RE = re.compile(rf"([一二三四五六七八九十]{{1,3}})、({_NAME}(?:[、和]{_NAME})*):")
_REMARK_RE = re.compile(r"\(([^()]*)\)")
# A date, its remark (a placeholder ``\x00k\x01`` for the k-th remark) following it.
_D = r"(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日(?:\x00(\d+)\x01)?"
_DATE_RE = re.compile(_D)
# 「放假调休」, and 「放假公休」 for a holiday that only joins a weekend (2008–2011 notices).
_RANGE_RE = re.compile(rf"{_D}(?:至{_D})?(?:放假|休假)(?:调休|公休)?(?:共?(\d+)天)?(?:调休|公休)?")
_COUNT_RE = re.compile(r"共(\d+)天")
_WORK_RE = re.compile(rf"{_D}(?:、{_D})*(?:上班|调休上班)")
_EXTRA_RE = re.compile(rf"{_D}(?:、{_D})*补休")
_WEEKDAY_RE = re.compile(r"(?:星期|周|礼拜)([一二三四五六日天])")


def parse_notice(text: str) -> HolidayNotice:
    """Read a pasted notice; raises ``NoticeProblem`` naming what does not add up."""
    norm, where = _normalise(text)
    if not norm:
        raise NoticeProblem("notice_empty")
    year = _year_of(norm)
    headers = list(_HEADER_RE.finditer(norm))
    if not headers:
        raise NoticeProblem("notice_no_items", year=year)
    end = len(norm)
    signature = norm.find("国务院办公厅", headers[-1].end())
    if signature >= 0:
        end = signature
    holidays: list[Holiday] = []
    workdays: set[date] = set()
    named: dict[str, str] = {}
    for i, header in enumerate(headers):
        stop = headers[i + 1].start() if i + 1 < len(headers) else end
        line = _quote(text, where, header.start(), stop)
        names = tuple(n for n in re.split(r"[、和]", header.group(2)) if n)
        for name in names:
            if name not in HOLIDAY_NAMES:
                raise NoticeProblem("notice_unknown_holiday", line, name=name)
            if name in named:
                raise NoticeProblem("notice_holiday_twice", line, name=name)
            named[name] = line
        item = _Item(year, names, line)
        for sentence in re.split(r"[。;]", norm[header.end() : stop]):
            item.read(sentence)
        holiday, item_workdays = item.result()
        holidays.append(holiday)
        workdays |= item_workdays
    off: set[date] = set()
    for holiday in holidays:
        off |= holiday.days
    for day in sorted(workdays):
        if day in off:
            raise NoticeProblem("notice_day_both", _line_with(holidays, named, day), day=day)
    missing = [name for name in HOLIDAY_NAMES if name not in named]
    if missing:
        raise NoticeProblem("notice_incomplete", year=year, missing="、".join(missing))
    return HolidayNotice(year, tuple(holidays), frozenset(workdays))


def _line_with(holidays: list[Holiday], named: dict[str, str], day: date) -> str:
    for holiday in holidays:
        if day in holiday.days:
            return named[holiday.names[0]]
    return ""


def _year_of(norm: str) -> int:
    for pattern in _YEAR_RES:
        found = pattern.search(norm)
        if found is not None:
            year = int(found.group(1))
            if not 2000 <= year <= 2100:
                raise NoticeProblem("notice_bad_year", year=year)
            return year
    raise NoticeProblem("notice_no_year")


def _quote(text: str, where: list[int], start: int, stop: int) -> str:
    """The original text of ``norm[start:stop]``, on one line, shortened to MAX_LINE."""
    if start >= len(where):
        return ""
    last = where[min(stop, len(where)) - 1]
    original = " ".join(text[where[start] : last + 1].split())
    original = original.rstrip("。;； ")
    return original if len(original) <= MAX_LINE else original[: MAX_LINE - 1] + "…"


class _Item:
    """One numbered item being read, sentence by sentence, clause by clause."""

    def __init__(self, year: int, names: tuple[str, ...], line: str) -> None:
        self.year = year
        self.names = names
        self.line = line
        self.first: date | None = None
        self.last: date | None = None
        self.extra: set[date] = set()
        self.workdays: set[date] = set()
        self.remarks: list[str] = []

    def problem(self, code: str, **params: object) -> NoticeProblem:
        return NoticeProblem(code, self.line, **params)

    def read(self, sentence: str) -> None:
        # Remarks become placeholders: one right after a date is that date's; any other
        # (and every date inside one) is only a remark.
        def hold(match: re.Match[str]) -> str:
            self.remarks.append(match.group(1))
            return f"\x00{len(self.remarks) - 1}\x01"

        held = _REMARK_RE.sub(hold, sentence)
        held = re.sub(r"(?<!日)\x00\d+\x01", "", held)
        for clause in held.split(","):
            self._clause(clause)

    def _clause(self, clause: str) -> None:
        if not clause:
            return
        if _RANGE_RE.fullmatch(clause):
            self._range(clause)
            return
        count = _COUNT_RE.fullmatch(clause)
        if count is not None:
            self._count(int(count.group(1)))
            return
        if _WORK_RE.fullmatch(clause):
            for day in self._dates(clause):
                if day.weekday() < 5:
                    raise self.problem("notice_workday_not_weekend", day=day)
                self.workdays.add(day)
            return
        if _EXTRA_RE.fullmatch(clause):
            self.extra.update(self._dates(clause))
            return
        if _DATE_RE.search(clause) is None:
            return  # 与周末连休, 不调休, an encouragement: nothing to read
        raise self.problem("notice_unreadable", clause=_shown(clause))

    def _range(self, clause: str) -> None:
        if self.first is not None:
            raise self.problem("notice_two_ranges")
        found = _RANGE_RE.fullmatch(clause)
        assert found is not None
        g = found.groups()
        if g[1] is None:
            raise self.problem("notice_unreadable", clause=_shown(clause))
        start_year = int(g[0]) if g[0] else self.year
        first = self._date(start_year, int(g[1]), int(g[2]), g[3])
        last = first
        if g[6] is not None:
            end_year = int(g[4]) if g[4] else first.year
            end_month = int(g[5]) if g[5] else first.month
            if not g[0] and not g[4] and first.month == 12 and end_month < first.month:
                # 「12月30日至1月1日」: a New Year holiday starting in the previous December.
                first = self._date(self.year - 1, first.month, first.day, g[3])
                end_year = self.year
            last = self._date(end_year, end_month, int(g[6]), g[7])
        if last < first:
            raise self.problem("notice_backwards", first=first, last=last)
        self.first, self.last = first, last
        if g[8] is not None:
            self._count(int(g[8]))

    def _count(self, said: int) -> None:
        if self.first is None or self.last is None:
            raise self.problem("notice_unreadable", clause=f"共{said}天")
        counted = (self.last - self.first).days + 1
        if said != counted:
            raise self.problem("notice_count", said=said, counted=counted)

    def _dates(self, clause: str) -> list[date]:
        days = []
        for found in _DATE_RE.finditer(clause):
            y, m, d, remark = found.groups()
            if m is None:
                raise self.problem("notice_unreadable", clause=_shown(clause))
            year = int(y) if y else self.year
            if not y and int(m) == 12 and self.first is not None and self.first.year < self.year:
                year = self.year - 1  # the make-up day of a holiday from the previous December
            days.append(self._date(year, int(m), int(d), remark))
        return days

    def _date(self, year: int, month: int, day: int, remark: str | None) -> date:
        try:
            found = date(year, month, day)
        except ValueError:
            raise self.problem("notice_no_such_date", date=f"{year}年{month}月{day}日") from None
        if not (found.year == self.year or (found.year == self.year - 1 and found.month == 12)):
            raise self.problem("notice_outside_year", day=found, year=self.year)
        if remark is not None:
            said = _WEEKDAY_RE.search(self.remarks[int(remark)])
            if said is not None:
                weekday = _WEEKDAYS.index("日" if said.group(1) == "天" else said.group(1))
                if weekday != found.weekday():
                    raise self.problem("notice_weekday", day=found, said=said.group(0))
        return found

    def result(self) -> tuple[Holiday, frozenset[date]]:
        if self.first is None or self.last is None:
            raise self.problem("notice_no_days")
        holiday = Holiday(self.names, self.first, self.last, frozenset(self.extra))
        return holiday, frozenset(self.workdays)


def _shown(clause: str) -> str:
    """A clause as an error quotes it: remark placeholders back as （…）."""
    return re.sub(r"\x00\d+\x01", "（…）", clause)
