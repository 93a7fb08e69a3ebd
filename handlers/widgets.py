"""The keyboards each widget shows: choices, toggles, quick dates and a month calendar, times,
files. Pure functions from a field and the moment to rows of (label, data) buttons; the
conversation code decides when to show them."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.fields import MAX_DATE_AHEAD, FieldSpec, Option
from bot.domain.workdays import WorkingCalendar
from bot.i18n import N_
from handlers.common import Button, chunk
from handlers.texts import Texts, short_day

# Makes the data of one button: (operation, argument) → callback data.
Data = Callable[[str, str | int], str]

TIME_CHOICES = ("09:00", "10:00", "14:00", "15:00", "16:00")
# Filler for calendar cells that cannot be pressed. Telegram rejects a button whose text is
# blank (BUTTON_TEXT_INVALID), so a space would break the whole calendar.
NO_DAY = "·"


# A button in a row of two is cut on a phone past about this width (a CJK character is two).
HALF_ROW_WIDTH = 16


def width(text: str) -> int:
    """How wide a label is on a phone: wide (CJK, full-width) characters count twice."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


# A button on a row of its own is cut on a phone past about this width.
ROW_WIDTH = 30
_CLOSING = "」”）)"


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` columns with "…", keeping a closing quote or bracket so that
    a title stays quoted (研判〔2026〕1号「长白山保护…」); a label that fits is left whole."""
    if width(text) <= limit:
        return text
    close = text[-1] if text[-1] in _CLOSING else ""
    body = text[:-1] if close else text
    budget = limit - width("…" + close)
    cut = ""
    for char in body:
        if width(cut + char) > budget:
            break
        cut += char
    return cut + "…" + close


def option_label(texts: Texts, lang: str, option: Option, *, button: bool = True) -> str:
    """A choice as its button reads (an organisation by its short name) or, with
    ``button=False``, as a text names it (the full name)."""
    if option.shown == "org":
        if button:
            return texts.committee.button_name(option.label, lang)
        return texts.committee.addressee_name(option.label, lang)
    if option.shown == "plain":
        # A matter offered for an agenda, say: its number and as much of its title as fits
        # beside a toggle's ☐ (the answer keeps the whole label).
        return fit(option.label, ROW_WIDTH - 2) if button else option.label
    return texts.t(lang, option.label)


def paired_rows(buttons: list[Button]) -> list[list[Button]]:
    """Two per row where every label fits half a phone's row, else one per row."""
    fits = all(width(label) <= HALF_ROW_WIDTH for label, _ in buttons)
    return chunk(buttons, 2 if fits else 1)


def option_rows(
    texts: Texts, lang: str, spec: FieldSpec, options: Sequence[Option], data: Data
) -> list[list[Button]]:
    """One button per choice: organisations by short name, two per row where they fit; a
    few short choices (一般 / 紧急 / 特急) in one row; anything else one per row."""
    buttons = [(option_label(texts, lang, o), data("opt", o.value)) for o in options]
    if options and all(o.shown == "org" for o in options):
        return paired_rows(buttons)
    short = len(buttons) <= 3 and all(len(label) <= 6 for label, _ in buttons)
    return [buttons] if short else chunk(buttons, 1)


def toggle_rows(
    texts: Texts,
    lang: str,
    spec: FieldSpec,
    options: Sequence[Option],
    selected: Sequence[str],
    typed: Sequence[str],
    data: Data,
) -> list[list[Button]]:
    """Toggles (☐ / ☑) two per row where they fit, the field's group toggles, a ✖ for each
    typed item, Done."""
    buttons = [
        (
            f"{'☑' if o.value in selected else '☐'} {option_label(texts, lang, o)}",
            data("tog", o.value),
        )
        for o in options
    ]
    rows = paired_rows(buttons)
    groups = [(texts.t(lang, label), data("grp", i)) for i, (label, _) in enumerate(spec.groups)]
    if groups:
        rows.append(groups)
    for i, item in enumerate(typed):
        rows.append([(f"✖ {fit(item, ROW_WIDTH - 2)}", data("untext", str(i)))])
    rows.append([(texts.t(lang, "✔ Done"), data("tdone", ""))])
    return rows


_NAMED_DAYS = {0: N_("Today"), 1: N_("Tomorrow"), 2: N_("Day after tomorrow")}


def working_days(texts: Texts, lang: str, n: int) -> str:
    """5个工作日 / 5 working days."""
    return texts.tn(lang, "%(n)s working day", "%(n)s working days", n)


def date_rows(
    texts: Texts,
    lang: str,
    today: date,
    spec: FieldSpec,
    data: Data,
    workdays: WorkingCalendar,
) -> list[list[Button]]:
    """The quick choices of a date, a way to the month calendar, and (optional) no date.

    A deadline is counted in working days, so its quick choices are too, each showing the
    real day it lands on (12月2日（周三）· 5个工作日) across weekends and holidays; a named
    day (明天 · 12月1日（周二）) is a calendar day."""
    quick: list[Button] = []
    for n in spec.quick_days:
        if spec.quick_named:
            day = today + timedelta(days=n)
            name = texts.t(lang, _NAMED_DAYS[n]) if n in _NAMED_DAYS else None
            name = name or texts.t(lang, "In %(n)s days", n=n)
            label = f"{name} · {short_day(lang, day)}"
        else:
            day = workdays.add_working_days(today, n)
            # Nothing between a full-width bracket and the dot: 12月2日（周三）· 5个工作日.
            dot = "· " if lang == "zh_CN" else " · "
            label = f"{short_day(lang, day)}{dot}{working_days(texts, lang, n)}"
        quick.append((label, data("date", day.isoformat())))
    rows = paired_rows(quick)
    rows.append([(texts.t(lang, "📅 Pick a date"), data("cal", f"{today:%Y-%m}"))])
    if not spec.required:
        rows.append([(texts.t(lang, "No specific date"), data("skip", ""))])
    return rows


def calendar_rows(
    texts: Texts, lang: str, today: date, year: int, month: int, data: Data
) -> list[list[Button]]:
    """A month as inline buttons; days before today are shown but cannot be chosen."""
    first = date(year, month, 1)
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    title = texts.month_title(lang, first)
    noop = data("noop", "")
    nav: list[Button] = [
        ("◀", data("cal", f"{prev_month:%Y-%m}"))
        if prev_month >= today.replace(day=1)
        else (NO_DAY, noop),
        (title, noop),
        ("▶", data("cal", f"{next_month:%Y-%m}"))
        if next_month <= today + MAX_DATE_AHEAD
        else (NO_DAY, noop),
    ]
    rows: list[list[Button]] = [nav, [(d, noop) for d in texts.weekdays(lang)]]
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        row: list[Button] = []
        for day in week:
            if day.month != month or day < today or day - today > MAX_DATE_AHEAD:
                row.append((NO_DAY, noop))
            else:
                row.append((str(day.day), data("date", day.isoformat())))
        rows.append(row)
    rows.append([(texts.t(lang, "↩ Back"), data("quick", ""))])
    return rows


_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})")
TIME_DATA = re.compile(r"[0-9]{4}")  # a time button's argument: 0930


def month_shown(text: str, today: date) -> date | None:
    """The first day of a calendar page (``2026-12``), if the calendar can show that month."""
    # ASCII digits only: str.isdigit() also takes "¹²", which int() then refuses.
    match = _MONTH_RE.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    first = date(int(match[1]), int(match[2]), 1)
    last = (today + MAX_DATE_AHEAD).replace(day=1)
    return first if today.replace(day=1) <= first <= last else None


def time_rows(
    texts: Texts, lang: str, day: date, now: datetime, tz: ZoneInfo, data: Data
) -> list[list[Button]]:
    """The usual starting times still ahead on ``day``, and a way back to the date."""
    future = [c for c in TIME_CHOICES if datetime.combine(day, time.fromisoformat(c), tz) > now]
    rows = chunk([(c, data("time", c.replace(":", ""))) for c in future], 3)
    rows.append([(texts.t(lang, "↩ Change the date"), data("redate", ""))])
    return rows
